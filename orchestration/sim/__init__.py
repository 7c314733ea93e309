"""Stand-ins for the two external systems, the HCM and the legacy finance system.

Test doubles with real behaviour (the finance simulator serves real HTTP); nothing that is
deployed or that operators run against AWS imports them.
"""
