"""Measuring a running vLLM: its Prometheus metrics over a window, and its throughput under load.

This package does network and Kubernetes I/O; the pure pricing engine (`cost/`) never imports it.
"""
