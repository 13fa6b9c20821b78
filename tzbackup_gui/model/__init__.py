"""Pure data rules shared by every layer: record ids, timestamps, content hashes, formats.

Imports nothing from the rest of the package, so the service client, the archive and both faces can all lean
on it without an arrow pointing up.
"""
