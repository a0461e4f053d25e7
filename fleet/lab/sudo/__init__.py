"""The lab's built-in sudo: a privilege path for lab hosts on machines without sudo.

A lab host's ``sudo`` (``client``) passes its standard descriptors, command line,
working directory and environment over a Unix socket to the lab supervisor
(``broker``), which is root.  The broker checks that the caller really runs inside
that host (peer credentials and mount namespace), applies the host's own sudoers
rules and password (``policy``, ``args``), and runs the command as the target user
inside the host's namespaces with the caller's descriptors; the client relays
signals and ends with the command's status.  The texts users see are sudo 1.8.23's
(CentOS 7), cited in ``texts``.

Kept import-light: the client is started for every ``sudo`` a lab host runs.
"""
