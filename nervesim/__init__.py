"""nervesim: fast, NEURON-exact activation thresholds of myelinated (vagal) nerve fibres."""
from .extracellular import Electrode, Medium, PointSource
from .fibre import Fibre, build_fibre
from .model import ModelRangeError, available_models, load_model
from .simulation import IntracellularPulse, SimulationResult, Stimulation, simulate
from .waveform import Waveform

__version__ = "0.1.0"

__all__ = ["Electrode", "Fibre", "IntracellularPulse", "Medium", "ModelRangeError", "PointSource",
           "SimulationResult", "Stimulation", "Waveform", "available_models", "build_fibre", "load_model",
           "simulate", "__version__"]
