"""Activation thresholds of myelinated (vagal) nerve fibres: a fast MRG engine, cross-validated against NEURON.

nervesim simulates a myelinated fibre with the McIntyre-Richardson-Grill (MRG) double-cable model
(one compartment per section) under an extracellular electrode, and finds the smallest stimulus
amplitude that makes the fibre conduct an action potential (AP). The engine is compiled with Numba
and performs NEURON's fixed-step backward-Euler integration (same equations, same order of
operations); `nervesim.neuron` runs the same fibre in NEURON itself, and `nervesim.validate`
compares the two over a grid of fibres, pulses and distances.

Data path of one threshold::

    fibre model       nervesim.model.load_model          model definition (TOML in models/)
    fibre geometry    nervesim.fibre.build_fibre         Fibre: per-section geometry and electrical
                                                         parameters along z
    electrode         Electrode.potentials(fibre)        potential per section (mV per mA of source current)
    waveform          nervesim.waveform.Waveform         unit amplitude, signed, sampled per time step
    solver            nervesim.simulation.Stimulation    double-cable run from rest (kernels:
                                                         nervesim.solver, nervesim.channels)
    detection         SimulationResult.fired             APCount (-30 mV) at the detection node
    threshold search  nervesim.threshold.find_threshold  bracket, then bisect -> ThresholdResult
    results store     nervesim.sweep.run_sweep           SQLite store, one row per point of a grid

Units are part of every name: lengths in um (``diameter_um``, ``x_um``), times in ms (``dt_ms``,
``width_ms``), currents in mA (``amplitude_mA``, ``threshold_mA``), potentials in mV,
conductivities in S/m (``sigma_S_m``). Fibres run along z; z = 0 is the start of the first node.

Sign convention: stimulus amplitudes are positive magnitudes in mA; the waveform carries the
polarity. A cathodic phase has level -1, i.e. a negative source current (current flows from the
tissue into the electrode), which makes the potential near the electrode negative; an anodic
phase has level +1.

Example::

    import nervesim
    fibre = nervesim.build_fibre("mrg-interp", diameter_um=10.0, n_nodes=51)
    electrode = nervesim.Electrode.point(x_um=1000, y_um=0, z_um=fibre.node_z_um[fibre.centre_node], sigma_S_m=0.2)
    pulse = nervesim.Waveform.monophasic(width_ms=0.1, polarity="cathodic")
    result = nervesim.find_threshold(fibre, electrode, pulse, dt_ms=0.005)    # ~0.1235 mA
    run = nervesim.simulate(fibre, electrode, pulse, 1.2 * result.threshold_mA, dt_ms=0.005, record_nodes=[25])

Modules:

- `nervesim.model`: fibre model definitions (``models/*.toml``) and their diameter ranges
- `nervesim.fibre`: fibre geometry, section by section
- `nervesim.extracellular`: media, point/ring/cuff electrodes, potentials from a field solver
- `nervesim.waveform`: pulses, trains, sampled waveforms
- `nervesim.simulation`: one run and AP detection
- `nervesim.threshold`: the threshold search
- `nervesim.analyses`: strength-duration, threshold curves, recruitment, kHz block
- `nervesim.population`: many thresholds in parallel threads
- `nervesim.sweep`: resumable parameter sweeps into a SQLite results store
- `nervesim.neuron`: the NEURON reference engine (needs ``pip install 'nervesim[neuron]'``)
- `nervesim.validate`: the Numba engine against NEURON over a grid
- `nervesim.errors`: `nervesim.errors.ParameterError`, raised for bad input
- `nervesim.cache`: where compiled kernels and mechanisms go (``~/.cache/nervesim``)
- internals: `nervesim.solver` and `nervesim.channels` (the Numba kernels)

Command line: ``nervesim --help`` (package ``nervesim.cli``, also ``python -m nervesim.cli``) runs
thresholds, single simulations, analyses, sweeps and the NEURON validation; each subcommand's
``--help`` lists its flags. Bad input raises `nervesim.errors.ParameterError` (a ValueError that
names the parameter) before any long computation starts.
"""
__version__ = "0.1.0"

from .cache import configure_numba_cache  # noqa: E402

configure_numba_cache()  # before any kernel module is imported


from .extracellular import Electrode, FilePotentials, Medium, PointSource, RingContact  # noqa: E402
from .fibre import Fibre, build_fibre  # noqa: E402
from .model import ModelRangeError, available_models, load_model  # noqa: E402
from .simulation import IntracellularPulse, SimulationResult, Stimulation, simulate  # noqa: E402
from .threshold import ThresholdResult, ThresholdSearchError, find_threshold  # noqa: E402
from .waveform import Waveform  # noqa: E402

__all__ = ["Electrode", "Fibre", "FilePotentials", "IntracellularPulse", "Medium", "ModelRangeError", "PointSource",
           "RingContact", "SimulationResult", "Stimulation", "ThresholdResult", "ThresholdSearchError", "Waveform",
           "available_models", "build_fibre", "find_threshold", "load_model", "simulate", "__version__"]
