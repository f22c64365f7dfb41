"""The Pulumi components the program builds: network, cluster, node pools, serving and add-ons."""
