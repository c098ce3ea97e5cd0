"""Mappings (SPEC 12): rules that choose which events go to Customer.io, and how.

paths (walking an event), conditions (the `when` tree), fql (its string form),
directives (field values), fields and actions (what each action makes), engine
(rules in order), model (checking and compiling a config's mappings), schema.
Nothing is imported here: `config.py` reads `schema` while it is itself loading.
"""
