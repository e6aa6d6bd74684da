"""smesh core library: protocol logic with no CLI dependencies."""
