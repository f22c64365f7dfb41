"""The stack config: schema, typed spec, how Pulumi merges it, zones and blockers. No Pulumi import."""
