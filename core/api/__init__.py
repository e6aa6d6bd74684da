"""The Spacemesh node API: spacemesh.v1 and spacemesh.v2alpha1 protos, generated code and HTTP routes."""
