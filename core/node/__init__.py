"""The full node: clock, activation, consensus and the services that drive them."""
