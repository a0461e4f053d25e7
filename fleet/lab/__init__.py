"""The simulated fleet: CentOS-like hosts on this machine behind real SSH servers."""
