"""breakeven's CrossGuard policy pack: `rules` (the policies), `pricing` (resources -> cost inputs),
`runner` (drives the pack over the Analyzer gRPC service, as the Pulumi CLI does)."""
