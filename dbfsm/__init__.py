"""dbfsm."""
