"""Activation: building and validating ATXs (NIPoST = PoET proof + PoST proof)."""
