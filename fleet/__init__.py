"""fleet: prepare fleets of CentOS/RHEL servers as Kubernetes nodes.

fleet installs and configures the Docker CE engine over SSH in rolling batches
and proves with ``docker info`` that every engine runs the systemd cgroup
driver and the overlay2 storage driver.  The command line is a thin layer over
this package: inventory -> plan -> scheduler -> steps -> results -> report.
"""

__version__ = "0.1.0"

# The name fleet is installed under: "fleet" on the package index is an unrelated
# project, so `fleet --version` names this one to tell which fleet is installed.
DISTRIBUTION = "fleet-nodeprep"
