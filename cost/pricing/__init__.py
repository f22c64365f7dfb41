"""What things cost: the AWS bill's line items, hosted APIs, other hosts and clouds, whole fleets."""
