"""breakeven's Pulumi program. Thin: infra.program loads the stack spec, places it, prices it, builds it, exports."""

from infra.program import main

main()
