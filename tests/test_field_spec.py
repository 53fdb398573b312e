"""The volume-conductor spec (nervesim.field.spec): TOML keys, ASCENT's tables, bad input named up front."""
import copy
import math

import pytest

from nervesim.errors import ParameterError
from nervesim.field.spec import FieldSpec, load_spec, material_table, thickness_rules

BASE = {"nerve": {"diameter_um": 3272.5},
        "fascicle": [{"x_um": 185.0, "y_um": -133.2, "diameter_um": 1689.84}],
        "perineurium": {"thickness": "PIG_VN_INHOUSE_200523", "resistivity_ohm_m": 1149},
        "medium": {"material": "muscle", "radius_um": 4000, "length_um": 25000},
        "contact": [{"x_um": 1671.27, "y_um": 0, "z_um": 8500}, {"x_um": 1671.27, "y_um": 0, "z_um": 16500}]}


def spec_with(edit):
    data = copy.deepcopy(BASE)
    edit(data)
    return FieldSpec.from_dict(data)


def test_toml_round_trip_and_yoo_sheet_resistance(tmp_path):
    """A TOML spec loads; the pig rule gives ASCENT's Yoo perineurium: 46.48 um, rho_s = 0.05341 ohm m^2 (§7)."""
    path = tmp_path / "yoo.toml"
    path.write_text("""
[nerve]
diameter_um = 3272.5
[[fascicle]]
x_um = 185.0
y_um = -133.2
diameter_um = 1689.84
[perineurium]
thickness = "PIG_VN_INHOUSE_200523"
[medium]
material = "muscle"
radius_um = 4000
length_um = 25000
[[contact]]
x_um = 1671.27
y_um = 0
z_um = 8500
""")
    spec = load_spec(path)
    f = spec.fascicles[0]
    assert spec.perineurium_thickness_um(f) == pytest.approx(46.48, abs=0.005)
    assert spec.sheet_resistance_ohm_m2(f) == pytest.approx(0.05341, abs=5e-6)
    assert spec.conductivity("medium") == (0.086, 0.086, 0.35)
    assert spec.conductivity("endoneurium") == pytest.approx((1 / 6, 1 / 6, 1 / 1.75))
    assert spec.conductivity("epineurium") == pytest.approx((1 / 6.3,) * 3)
    assert FieldSpec.from_dict(spec.to_dict()) == spec


def test_ascent_tables():
    """Every thickness rule and the materials a Yoo model uses, as listed in §2 and §3."""
    rules = thickness_rules()
    d = 1000.0
    expected = {"RAT_VN_INHOUSE_200601": 0.01292 * d + 1.367, "PIG_VN_INHOUSE_200523": 0.02547 * d + 3.44,
                "HUMAN_VN_INHOUSE_200601": 0.03702 * d + 10.5, "GRINBERG_2008": 0.03 * d, "ARLE_2016": 30.0,
                "BUCKSOT_2019": 31.0}
    assert {k: a * d + b for k, (a, b) in rules.items()} == pytest.approx(expected)
    table = material_table()
    assert table["weerasuriya_perineurium_DC"] == pytest.approx(1 / 1149, rel=1e-6)
    assert table["saline"] == 1.76 and table["platinum"] == 9.43e6 and table["silicone"] == 1e-12
    assert table["muscle"] == [0.086, 0.086, 0.35] and table["fat"] == pytest.approx(1 / 30)


def test_overrides_and_hash():
    """Overrides by function (name, scalar, tensor) change the conductivity and the hash; equal specs hash equal."""
    base = spec_with(lambda d: None)
    assert base.hash() == spec_with(lambda d: None).hash()
    scalar = spec_with(lambda d: d.setdefault("materials", {}).update(epineurium=0.2))
    assert scalar.conductivity("epineurium") == (0.2, 0.2, 0.2) and scalar.hash() != base.hash()
    tensor = spec_with(lambda d: d.setdefault("materials", {}).update(endoneurium=[0.1, 0.2, 0.5]))
    assert tensor.conductivity("endoneurium") == (0.1, 0.2, 0.5)
    fat = spec_with(lambda d: d.setdefault("materials", {}).update(fill="fat"))
    assert fat.conductivity("fill") == pytest.approx((1 / 30,) * 3)
    thick = spec_with(lambda d: d["perineurium"].update(thickness=20.0))
    assert thick.sheet_resistance_ohm_m2(thick.fascicles[0]) == pytest.approx(20e-6 * 1149)
    assert thick.hash() != base.hash()


@pytest.mark.parametrize("edit, parameter", [
    (lambda d: d["nerve"].update(diameter_um=-1), "nerve.diameter_um"),
    (lambda d: d["nerve"].update(diameter_um=math.nan), "nerve.diameter_um"),
    (lambda d: d["fascicle"][0].update(x_um=900.0), "fascicle[0]"),  # crosses the nerve boundary
    (lambda d: d["fascicle"].append({"x_um": -300.0, "y_um": 0.0, "diameter_um": 600.0}), "fascicle[1]"),  # overlap
    (lambda d: d["fascicle"][0].update(diameter_um=math.inf), "fascicle[0].diameter_um"),
    (lambda d: d.update(fascicle=[]), "fascicle"),
    (lambda d: d["perineurium"].update(thickness="FROG_2030"), "perineurium.thickness"),
    (lambda d: d["perineurium"].update(thickness=-3.0), "perineurium.thickness"),
    (lambda d: d["perineurium"].update(resistivity_ohm_m=0), "perineurium.resistivity_ohm_m"),
    (lambda d: d.setdefault("materials", {}).update(epineurium="unobtainium"), "materials.epineurium"),
    (lambda d: d.setdefault("materials", {}).update(skin=0.1), "materials.skin"),
    (lambda d: d.setdefault("materials", {}).update(endoneurium=[0.1, 0.2]), "materials.endoneurium"),
    (lambda d: d.setdefault("materials", {}).update(endoneurium=[0.1, -0.2, 0.3]), "materials.endoneurium[1]"),
    (lambda d: d["medium"].update(radius_um=1000), "medium.radius_um"),
    (lambda d: d["medium"].update(material="jelly"), "materials.medium"),
    (lambda d: d["medium"].update(length_um="long"), "medium.length_um"),
    (lambda d: d["contact"][1].update(z_um=26000), "contact[1]"),
    (lambda d: d["contact"][0].update(y_um=math.nan), "contact[0].y_um"),
    (lambda d: d.update(contact=[]), "contact"),
    (lambda d: d["contact"][0].pop("z_um"), "contact[0].z_um"),
    (lambda d: d["nerve"].update(diameter=3), "nerve.diameter"),
    (lambda d: d.update(cuf={}), "spec.cuf"),
    (lambda d: d.update(mesh={"order": 7}), "mesh.order"),
    (lambda d: d.update(mesh={"grading": 1.5}), "mesh.grading"),
    (lambda d: d.update(materials={"medium": 1.0}), "medium.material"),  # given twice
])
def test_bad_input_names_the_key(edit, parameter):
    with pytest.raises(ParameterError) as err:
        spec_with(edit)
    assert err.value.parameter == parameter
    assert "\n" not in str(err.value)


def test_bad_toml(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text("[nerve\n")
    with pytest.raises(ParameterError) as err:
        load_spec(path)
    assert err.value.parameter == "spec"


CUFF = {"inner_radius_um": 1700, "thickness_um": 600, "length_um": 5000, "z_um": 12500, "angle_deg": 90,
        "arc_deg": 270, "contact": [{"z_um": -1000, "width_um": 500, "arc_deg": 90, "recess_um": 50},
                                    {"z_um": 1000, "width_um": 500, "arc_deg": 180}]}


def test_cuff_keys_and_sources():
    """[cuff] with [[cuff.contact]]: bases after the point contacts; each source at mid-angle (from the cuff's
    angle), mid-thickness of the recessed metal, at the contact's z (§1, §5)."""
    spec = spec_with(lambda d: d.update(cuff=copy.deepcopy(CUFF)))
    src = spec.sources_um()
    assert len(src) == 4 and src[:2] == [(1671.27, 0, 8500), (1671.27, 0, 16500)]
    r1 = 1700 + 50 + 12.5
    assert src[2] == pytest.approx((r1 * math.cos(math.radians(135)), r1 * math.sin(math.radians(135)), 11500))
    r2 = 1700 + 12.5
    assert src[3] == pytest.approx((r2 * math.cos(math.radians(180)), r2 * math.sin(math.radians(180)), 13500))
    assert FieldSpec.from_dict(spec.to_dict()) == spec
    assert spec.hash() != spec_with(lambda d: None).hash()


def with_cuff(edit):
    def apply(d):
        d["cuff"] = copy.deepcopy(CUFF)
        edit(d["cuff"])
    return apply


@pytest.mark.parametrize("edit, parameter", [
    (lambda c: c.update(inner_radius_um=1600), "cuff.inner_radius_um"),  # smaller than the nerve, not expandable
    (lambda c: c.update(arc_deg=400), "cuff.arc_deg"),
    (lambda c: c.update(length_um=30000), "cuff"),
    (lambda c: c.update(thickness_um=3000), "cuff"),
    (lambda c: c["contact"][0].update(arc_deg=300), "cuff.contact[0].arc_deg"),
    (lambda c: c["contact"][0].update(recess_um=580), "cuff.contact[0]"),
    (lambda c: c["contact"][1].update(z_um=2400), "cuff.contact[1]"),  # beyond the cuff
    (lambda c: c["contact"][1].update(z_um=-800), "cuff.contact[1]"),  # overlaps contact 0
    (lambda c: c["contact"][1].update(width_um=-5), "cuff.contact[1].width_um"),
    (lambda c: c["contact"][1].pop("width_um"), "cuff.contact[1].width_um"),
    (lambda c: c["contact"][1].update(colour="red"), "cuff.contact[1].colour"),
    (lambda c: c.update(contact=[]), "cuff.contact"),
    (lambda c: c.pop("z_um"), "cuff.z_um"),
    (lambda c: c.update(preset="Purdue"), "cuff.inner_radius_um"),  # a preset takes no geometry keys
])
def test_bad_cuff_names_the_key(edit, parameter):
    with pytest.raises(ParameterError) as err:
        spec_with(with_cuff(edit))
    assert err.value.parameter == parameter


def test_cortec300_preset_opens_as_ascent():
    """§5.3 on a 3272.5 um nerve: R_in = r_nerve + 10 um, arc = 360°·150/R_in, contact arc = 360°·600/(2π R_in),
    contact 1 at Center + 750 um, sources at mid-contact-angle (= angle_deg + contact arc / 2), mid-thickness."""
    spec = spec_with(lambda d: d.update(contact=[], cuff={"preset": "CorTec300", "angle_deg": 90}))
    c = spec.cuff
    r_in = 3272.5 / 2 + 10
    assert c.inner_radius_um == pytest.approx(r_in) and c.thickness_um == 650 and c.length_um == 2000
    assert c.arc_deg == pytest.approx(360 * 150 / r_in) and c.z_um == 12500
    theta = 360 * 600 / (2 * math.pi * r_in)
    src = spec.sources_um()
    a = math.radians(90 + theta / 2)
    assert src == [pytest.approx(((r_in + 12.5) * math.cos(a), (r_in + 12.5) * math.sin(a), z)) for z in (13250, 11750)]
    # the contacts sit in the middle of the tube's arc
    e = c.contacts[0]
    assert e.start_deg + e.arc_deg / 2 == pytest.approx(c.arc_deg / 2)


@pytest.mark.parametrize("cuff, parameter", [
    ({"preset": "NoSuchCuff"}, "cuff.preset"),
    ({"preset": "CorTec300", "angle_deg": math.nan}, "cuff.angle_deg"),
    ({"preset": "CorTec300", "length_um": 5}, "cuff.length_um"),
])
def test_bad_preset(cuff, parameter):
    with pytest.raises(ParameterError) as err:
        spec_with(lambda d: d.update(cuff=cuff))
    assert err.value.parameter == parameter


def test_livanova2000_helix_preset_gives_the_yoo_numbers_of_section_7():
    """§7's derived values for r_nerve = 1636.27 um at pos_ang 264.2112: r_cuff_in 1646.27 um, 2.32819 turns,
    L_cuff 3.7251 mm, helix start 295.14 deg, sources at radius 1671.27 um and 354.21 deg, z 8.5 / 16.5 mm, fill
    radius 2646.27 um and length 5.3251 mm; the spec survives its dict form (what field files store)."""
    spec = spec_with(lambda d: d.update(nerve={"diameter_um": 3272.54}, contact=[],
                                        cuff={"preset": "LivaNova2000", "angle_deg": 264.2112}))
    c = spec.cuff
    assert c.inner_radius_um == pytest.approx(1646.27) and c.turns == pytest.approx(2.32819, abs=1e-5)
    assert c.length_um == pytest.approx(3725.1, abs=0.1) and c.start_deg % 360 == pytest.approx(295.14, abs=0.01)
    assert (c.fill_radius_um, c.fill_length_um) == (pytest.approx(2646.27), pytest.approx(5325.1, abs=0.1))
    for (x, y, z), zc in zip(spec.sources_um(), (8500, 16500)):
        assert math.hypot(x, y) == pytest.approx(1671.27) and z == zc
        assert math.degrees(math.atan2(y, x)) % 360 == pytest.approx(354.21, abs=0.01)
    again = FieldSpec.from_dict(spec.to_dict())
    assert again == spec and again.hash() == spec.hash()


def test_small_nerve_keeps_the_unopened_helix():
    """§5.1: below r_cuff_in_pre the helix keeps 2.5 turns at r_in = 1 mm (ID 2 mm)."""
    spec = spec_with(lambda d: d.update(nerve={"diameter_um": 1500}, fascicle=[{"x_um": 0, "y_um": 0,
                                                                                "diameter_um": 800}],
                                        contact=[], cuff={"preset": "LivaNova2000"}))
    assert (spec.cuff.inner_radius_um, spec.cuff.turns) == (1000, 2.5)
    assert spec.cuff.start_deg == pytest.approx(450 - 180 * 2.5)


@pytest.mark.parametrize("edit, parameter", [
    (lambda c: c.update(centres_um=[8500, 10000]), "cuff.centres_um[1]"),  # fills overlap
    (lambda c: c.update(contact_from=0.8), "cuff.contact_from"),
    (lambda c: c.update(inner_radius_um=1500), "cuff.inner_radius_um"),
    (lambda c: c.update(pitch_um=-1), "cuff.pitch_um"),
    (lambda c: c.pop("turns"), "cuff.turns"),
    (lambda c: c.update(colour="red"), "cuff.colour"),
])
def test_bad_helix_names_the_key(edit, parameter):
    base = spec_with(lambda d: d.update(contact=[], cuff={"preset": "LivaNova2000", "angle_deg": 264.2112}))
    data = base.to_dict()
    edit(data["cuff"])
    with pytest.raises(ParameterError) as err:
        FieldSpec.from_dict(data)
    assert err.value.parameter == parameter
