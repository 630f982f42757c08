"""Loopback stand-ins for outside systems, speaking their real wire formats."""
