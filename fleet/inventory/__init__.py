"""Inventory loading: fleet's YAML format and Ansible inventories (YAML and INI).

Every format becomes the same immutable :class:`Inventory` of :class:`Host`
objects, so the rest of fleet never knows where a host came from.  Errors are
:class:`~fleet.errors.InputError` with ``file:line: what is wrong; how to fix``.

The three parsers (:mod:`.fleet_yaml`, :mod:`.ansible_yaml`, :mod:`.ini`) only
translate their syntax into one :mod:`.draft` (defaults, groups, hosts, each
variable already validated); a single builder (:mod:`.build`) then applies the
precedence rules, so the formats cannot drift apart.  ``--limit`` patterns are
resolved against the finished inventory by :func:`select_hosts` (:mod:`.limit`).
"""

from fleet.inventory.limit import select_hosts
from fleet.inventory.load import load_inventory
from fleet.inventory.model import Host, Inventory
from fleet.inventory.ranges import expand_range

__all__ = ["Host", "Inventory", "expand_range", "load_inventory", "select_hosts"]
