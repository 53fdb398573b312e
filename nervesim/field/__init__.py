"""Finite-element volume conductor (issue 9): a model spec as data, an NGSolve solve per contact with the
perineurium as a thin resistive layer, and the solved field sampled at fibre sections for `Stimulation`.

Needs the ``fem`` extra (ngsolve); `nervesim.field.spec` works without it. Physics references cite
``volume-conductor.md`` §N (ASCENT's conventions).
"""
from .field import Field, FieldElectrode, field_cache_dir, fitting_fibre, load_field, solve_field
from .shapes import Circle, Ellipse, Polygon
from .spec import Contact, Fascicle, FieldSpec, MeshSettings, load_spec, material_table, thickness_rules

__all__ = ["Circle", "Contact", "Ellipse", "Fascicle", "Field", "FieldElectrode", "FieldSpec", "MeshSettings",
           "Polygon", "field_cache_dir", "fitting_fibre", "load_field", "load_spec", "material_table", "solve_field",
           "thickness_rules"]
