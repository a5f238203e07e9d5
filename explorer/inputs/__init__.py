"""explorer.inputs."""
