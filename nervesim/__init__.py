"""nervesim: fast, NEURON-exact activation thresholds of myelinated (vagal) nerve fibres."""
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
