"""The NEURON-based threshold search of PyFibers (reference mrg-model.md §5.5), as the baseline.

Defaults: top −1 mA, bottom −0.01 mA, bounds moved by 10 % steps, arithmetic bisection until the
pre-update bracket is within 1 %, runs end when the detection node has fired (checked every 100
steps) or at t_exit = (AP time of the first supra-threshold top run) + 5 ms; a final confirming run.
Amplitudes here are magnitudes; the waveform carries the polarity.
"""
from __future__ import annotations

from neuron import h

from nervesim.neuron import NeuronStimulation

CHECK_EVERY = 100
EXIT_T_SHIFT_MS = 5.0


def _run(stim: NeuronStimulation, amp: float, t_exit: float | None) -> tuple[bool, float]:
    stim.initialise()
    det = stim.apcs[stim.fibre.detection_node]
    for n in range(stim.n_steps):
        stim.advance(n, amp)
        if (n + 1) % CHECK_EVERY == 0 and det.n > 0:
            break
        if t_exit is not None and h.t >= t_exit:
            break
    return det.n > 0, det.time


def pyfibers_threshold(stim: NeuronStimulation, top: float = 1.0, bottom: float = 0.01, step_pct: float = 10.0,
                       tolerance: float = 0.01, max_iterations: int = 50) -> tuple[float, int]:
    """Return (threshold_mA, number of runs) with PyFibers' algorithm."""
    runs = 0
    t_exit = None
    top_fired, t_ap = _run(stim, top, None)
    runs += 1
    bottom_fired, _ = _run(stim, bottom, None)
    runs += 1
    for _ in range(max_iterations):
        if top_fired and not bottom_fired:
            break
        if not top_fired:
            bottom, top = top, top * (1 + step_pct / 100)
            top_fired, t_ap = _run(stim, top, None)
        else:
            top, bottom = bottom, bottom * (1 - step_pct / 100)
            bottom_fired, _ = _run(stim, bottom, None)
        runs += 1
    else:
        raise RuntimeError("PyFibers-style search did not bracket the threshold")
    t_exit = t_ap + EXIT_T_SHIFT_MS
    while True:
        prev = top
        mid = 0.5 * (bottom + top)
        fired, _ = _run(stim, mid, t_exit)
        runs += 1
        tol = abs(bottom - top) / abs(top)
        if tol < tolerance:
            threshold = mid if fired else prev
            _run(stim, threshold, None)  # PyFibers' confirming run
            return threshold, runs + 1
        if fired:
            top = mid
        else:
            bottom = mid
