"""breakeven's pricing engine: pure Python, no Pulumi import.

Usable from the Pulumi program, the policy pack, the command line and a notebook alike.
"""
