"""What one replica holds and serves: memory, capacity, the fitted factors and their calibration."""
