# Cable solver template: NEURON's fixed-step backward Euler with staggered membrane states.
#
# Never imported as a module. nervesim.membrane appends this text to the generated membrane functions
# (membrane_init, membrane_currents_all, membrane_states_all) of a fibre model and imports the result, so the
# membrane is compiled into these kernels; Numba caches them on disk. Membrane states are stored one column
# per active section (st[q, j]), so that the state update of all sections can run in vectorised loops.
# Units: nA, uS, nF, mV, ms (uS mV = nA, nF mV/ms = nA); membrane functions work in NEURON's densities
# and are scaled by area.
# The step functions are inlined (Numba IR) into the kernel: calls per compartment cost ~5 % of a step.
# The module's njit lets LLVM fuse multiply-adds (fastmath "contract"): a step of the quick-start fibre
# took 7.1 us without and 6.5 us with; fused products are rounded once, so agreement with NEURON stays at
# rounding level (tests/test_neuron.py).
#
# `c` is a nervesim.solver.CableArrays, `r` a nervesim.solver.RunControl (named tuples of plain arrays
# and numbers). A double cable (MRG) has per compartment the unknowns (v_i, x0, x1): intracellular,
# periaxonal (extracellular layer 0) and outer layer potentials, v = v_i - x0; x1 is eliminated per
# compartment (`_step_double`), and in the fast mode (OUTER_LAYER false) held at the extracellular
# potential. A single cable (fibres without a myelin layer, reference fibre-models.md §1.2) solves for v_i
# alone: both of NEURON's extracellular layers are eliminated per compartment (`_step_single`), and in the
# fast mode held at e (v_i = v + e). DOUBLE_CABLE and OUTER_LAYER (NEURON's layers kept) are constants of
# the generated module, so each kernel is compiled with one step function only.
# ruff: noqa: F821


@njit(cache=True, nogil=True)
def _diagonal_constants(c, dt):
    """Step-invariant parts of the diagonal blocks, per compartment: c_m/dt + g_pas; layer 0's b = c/dt + g
    (the myelin's in a double cable); b (1 - f); sum g_i; sum g_p; f = b / d_o and 1 / d_o with d_o the outer
    layer's row (`_step_double`, `_step_single`; f = 0 without OUTER_LAYER)."""
    n = c.c_m.shape[0]
    out = np.zeros((7, n))
    for k in range(n):
        out[0, k] = c.c_m[k] / dt + c.g_pas[k]
        b = c.c_my[k] / dt + c.g_my[k]
        out[1, k] = b
        out[2, k] = b
        if OUTER_LAYER:
            d_o = b + c.c_o[k] / dt + c.g_o[k]
            out[5, k] = b / d_o
            out[6, k] = 1.0 / d_o
            out[2, k] = b * (1.0 - out[5, k])
    layers = 2 if DOUBLE_CABLE else 1
    for k in range(n - 1):
        for layer in range(layers):
            out[3 + layer, k] += c.g_ax[layer, k]
            out[3 + layer, k + 1] += c.g_ax[layer, k]
    return out


@njit(cache=True, nogil=True, inline="always")
def _currents(v, st, c, i_ion, g_act, v_act, cur):
    """Ionic current (nA) of every compartment at v into ``i_ion``, and the membrane slope (uS) where
    mechanisms sit into ``g_act``; ``v_act`` and ``cur`` are the active sections' v and membrane currents."""
    for k in range(v.shape[0]):
        i_ion[k] = c.g_pas[k] * (v[k] - c.e_pas[k])
    for j in range(c.act.shape[0]):
        v_act[j] = v[c.act[j]]
    membrane_currents_all(v_act, st, c.par, c.celsius, cur)
    for j in range(c.act.shape[0]):
        k = c.act[j]
        i_ion[k] += cur[0, j] * c.act_scale[j]
        g_act[k] = cur[1, j] * c.act_scale[j]


@njit(cache=True, nogil=True, inline="always")
def _add_axial(r, u, g):
    """Add to each r[k] the axial currents g (u_neighbour - u_k) from k - 1, then from k + 1 (NEURON's order).

    Right-hand sides are built by such whole-array loops, which LLVM vectorises, before the elimination
    reads them row by row (built inside the elimination loop they cost 8 % more of a step)."""
    n = u.shape[0]
    for k in range(1, n):
        r[k] += g[k - 1] * (u[k - 1] - u[k])
    for k in range(n - 1):
        r[k] += g[k] * (u[k + 1] - u[k])


@njit(cache=True, nogil=True, inline="always")
def _layer_rhs(k, x0, x1, e_out, i_ion, c, rhs):
    """Right-hand sides at compartment k of extracellular layer 0 (rhs[1]) and of NEURON's outer layer
    (rhs[2]), without their axial currents; in the fast mode (no OUTER_LAYER) x1's change, e_out - x1."""
    wk = x0[k] - x1[k]
    rhs[1, k] = i_ion[k] - c.g_my[k] * wk
    if OUTER_LAYER:
        rhs[2, k] = c.g_my[k] * wk - c.g_o[k] * (x1[k] - e_out[k])
    else:
        rhs[2, k] = e_out[k] - x1[k]


# Twisted elimination: rows are eliminated from both ends toward the middle row n // 2, one row of each side
# per loop iteration, then solved from the middle outward. The two sides are independent dependency chains
# (each row waits for its neighbour's inverted pivot), which the CPU overlaps: at 51 MRG nodes a step took
# 13.3 us one-way and 11.7 us twisted. Each side's last row travels in local variables (the "carry"), not
# through memory: reading it back from the stored rows put a store-to-load delay on each chain's every
# link (quick-start fibre, 6.1-6.3 -> 5.0-5.2 us per step).

@njit(cache=True, nogil=True, inline="always")
def _row2(k, diag, g_act, rhs):
    """Row k of the double cable's 2 x 2 block system: (d00, d01, d11, r0, r1) before elimination."""
    a = diag[0, k] + g_act[k]
    return a + diag[3, k], -a, a + diag[2, k] + diag[4, k], rhs[0, k], rhs[1, k] + diag[1, k] * rhs[2, k]


@njit(cache=True, nogil=True, inline="always")
def _absorb2(row, gi, gp, carry):
    """Eliminate from ``row`` its eliminated neighbour ``carry``, coupled by the axial conductances gi, gp."""
    d00, d01, d11, r0, r1 = row
    c0, c1, c2, inv, s0, s1 = carry
    return (d00 - (gi * gi * c0) * inv, d01 - (gi * gp * c1) * inv, d11 - (gp * gp * c2) * inv,
            r0 + (gi * inv) * (c0 * s0 + c1 * s1), r1 + (gp * inv) * (c1 * s0 + c2 * s1))


@njit(cache=True, nogil=True, inline="always")
def _pivot2(k, row, dpi, rp):
    """Keep eliminated row k, its block as cofactors and inverse determinant (the division stays off the
    products that the next row needs first); returns it as the carry."""
    d00, d01, d11, r0, r1 = row
    inv = 1.0 / (d00 * d11 - d01 * d01)
    dpi[k, 0] = d11
    dpi[k, 1] = -d01
    dpi[k, 2] = d00
    dpi[k, 3] = inv
    rp[0, k] = r0
    rp[1, k] = r1
    return d11, -d01, d00, inv, r0, r1


@njit(cache=True, nogil=True, inline="always")
def _solve2(k, gi, gp, u, dpi, rp):
    """Changes of row k, Delta_k = D'_k^-1 (r'_k + G u) from its solved neighbour's changes u; they replace r'_k
    in ``rp`` (and are applied to the potentials in one vectorised loop afterwards) and are returned."""
    inv = dpi[k, 3]
    s0 = rp[0, k] + gi * u[0]
    s1 = rp[1, k] + gp * u[1]
    u0 = (dpi[k, 0] * inv) * s0 + (dpi[k, 1] * inv) * s1
    u1 = (dpi[k, 1] * inv) * s0 + (dpi[k, 2] * inv) * s1
    rp[0, k] = u0
    rp[1, k] = u1
    return u0, u1


@njit(cache=True, nogil=True, inline="always")
def _step_double(v, x0, x1, st, e_out, i_stim, dt, diag, c, w):
    """One backward-Euler step of the double cable in Delta-form; updates v, x0, x1 and st in place.

    Each compartment's outer-layer change is u2 = p + f u1 (u1: the change of x0), which leaves a 2 x 2
    block system in the changes of (v_i, x0), solved by twisted block Thomas. NEURON's outer layer (no
    capacitance, radial conductance g_o of 1e9 S/cm2, axial conductance ~1e-13 of it) holds x1 within
    ~1e-10 mV of e_out, so its axial currents are taken at the new e_out (their error, g_ax2 times
    differences of x1 - e_out, moves x1 by ~1e-23 mV) and its own row, -b u1 + d_o u2 = r2, gives
    p = r2 / d_o and f = b / d_o (b: the myelin's c/dt + g). In the fast mode (no OUTER_LAYER) x1 follows
    e_out: p = e_out - x1 and f = 0.
    """
    n = v.shape[0]
    i_ion, g_act, vi, rhs, dpi, rp, v_act, cur = w
    g_ax = c.g_ax
    _currents(v, st, c, i_ion, g_act, v_act, cur)
    for k in range(n):
        vi[k] = v[k] + x0[k]
        rhs[0, k] = i_stim[k] - i_ion[k]
        _layer_rhs(k, x0, x1, e_out, i_ion, c, rhs)
    _add_axial(rhs[0], vi, g_ax[0])
    _add_axial(rhs[1], x0, g_ax[1])
    if OUTER_LAYER:
        _add_axial(rhs[2], e_out, g_ax[2])
        for k in range(n):
            rhs[2, k] *= diag[6, k]
    mid = n // 2
    left = right = (0.0, 0.0, 0.0, 0.0, 0.0, 0.0)  # a zero carry eliminates nothing
    for i in range(mid):
        j = max(i - 1, 0)
        left = _pivot2(i, _absorb2(_row2(i, diag, g_act, rhs), g_ax[0, j], g_ax[1, j], left), dpi, rp)
        k = n - 1 - i
        if k > mid:
            j = min(k, n - 2)
            right = _pivot2(k, _absorb2(_row2(k, diag, g_act, rhs), g_ax[0, j], g_ax[1, j], right), dpi, rp)
    row = _row2(mid, diag, g_act, rhs)
    if mid > 0:
        row = _absorb2(row, g_ax[0, mid - 1], g_ax[1, mid - 1], left)
    if mid < n - 1:
        row = _absorb2(row, g_ax[0, mid], g_ax[1, mid], right)
    _pivot2(mid, row, dpi, rp)
    u_left = u_right = _solve2(mid, 0.0, 0.0, (0.0, 0.0), dpi, rp)
    for i in range(1, mid + 1):
        k = mid - i
        u_left = _solve2(k, g_ax[0, k], g_ax[1, k], u_left, dpi, rp)
        k = mid + i
        if k < n:
            u_right = _solve2(k, g_ax[0, k - 1], g_ax[1, k - 1], u_right, dpi, rp)
    u_i, u_p, r2, f = rp[0], rp[1], rhs[2], diag[5]
    for k in range(n):  # the potentials' changes in one vectorised loop: fewer operations on the chains
        v[k] += u_i[k] - u_p[k]
        x0[k] += u_p[k]
        x1[k] += r2[k] + f[k] * u_p[k]
    membrane_states_all(v, c.act, st, c.par, c.celsius, dt, v_act)


@njit(cache=True, nogil=True, inline="always")
def _pivot1(k, gk, q, s, rhs, dpi, rp):
    """Eliminate row k of the single cable (diagonal in rhs[4]) with its eliminated neighbour (inverse pivot q,
    right-hand side s, coupled by gk); keep it and return it as the carry."""
    s = rhs[0, k] + gk * q * s
    q = 1.0 / (rhs[4, k] - gk * gk * q)
    dpi[k, 0] = q
    rp[0, k] = s
    return q, s


@njit(cache=True, nogil=True, inline="always")
def _step_single(v, x0, x1, st, e_out, i_stim, dt, diag, c, w):
    """One backward-Euler step of the single cable in Delta-form (twisted Thomas); v_i = v + x0.

    NEURON's two extracellular layers (no capacitance; radial conductances 1e10 and 1e9 S/cm2, axial ones
    ~1e-13 of those) are eliminated per compartment as in `_step_double`: their axial currents taken at the
    new e_out, the outer row gives u2 = p2 + f2 u0 and then layer 0's row u0 = p1 + f1 u_i (u_i: the change
    of v_i), which leaves the membrane in series with the layers, a B / (a + B), on the diagonal of a scalar
    system. Their series resistance changes the membrane's conductance by a / B, about 1e-8. In the fast
    mode (no OUTER_LAYER) both layers are held at e_out: v_i = v + e_out.
    """
    n = v.shape[0]
    i_ion, g_act, vi, rhs, dpi, rp, v_act, cur = w
    g = c.g_ax[0]
    _currents(v, st, c, i_ion, g_act, v_act, cur)
    for k in range(n):
        rhs[0, k] = i_stim[k] - i_ion[k]
        if OUTER_LAYER:
            vi[k] = v[k] + x0[k]
            _layer_rhs(k, x0, x1, e_out, i_ion, c, rhs)
        else:
            vi[k] = v[k] + e_out[k]
    _add_axial(rhs[0], vi, g)
    if OUTER_LAYER:
        _add_axial(rhs[1], e_out, c.g_ax[1])
        _add_axial(rhs[2], e_out, c.g_ax[2])
    for k in range(n):  # the diagonal into rhs[4]; with the layers, p1 and p2 into rhs[1], rhs[2] and f1 into rhs[3]
        a = diag[0, k] + g_act[k]
        if OUTER_LAYER:
            q = 1.0 / (a + diag[2, k])
            p2 = rhs[2, k] * diag[6, k]
            p1 = (rhs[1, k] + diag[1, k] * p2) * q
            rhs[0, k] += a * p1
            rhs[1, k] = p1
            rhs[2, k] = p2
            rhs[3, k] = a * q
            rhs[4, k] = a * diag[2, k] * q + diag[3, k]
        else:
            rhs[4, k] = a + diag[3, k]
    mid = n // 2
    q_left = s_left = q_right = s_right = 0.0  # a zero carry eliminates nothing
    for i in range(mid):
        q_left, s_left = _pivot1(i, g[max(i - 1, 0)], q_left, s_left, rhs, dpi, rp)
        k = n - 1 - i
        if k > mid:
            q_right, s_right = _pivot1(k, g[min(k, n - 2)], q_right, s_right, rhs, dpi, rp)
    d = rhs[4, mid]
    s = rhs[0, mid]
    if mid > 0:
        d -= g[mid - 1] * g[mid - 1] * q_left
        s += g[mid - 1] * q_left * s_left
    if mid < n - 1:
        d -= g[mid] * g[mid] * q_right
        s += g[mid] * q_right * s_right
    u_left = u_right = s / d
    rp[0, mid] = u_left
    for i in range(1, mid + 1):
        k = mid - i
        u_left = dpi[k, 0] * (rp[0, k] + g[k] * u_left)
        rp[0, k] = u_left
        k = mid + i
        if k < n:
            u_right = dpi[k, 0] * (rp[0, k] + g[k - 1] * u_right)
            rp[0, k] = u_right
    for k in range(n):  # the changes, in one vectorised loop
        if OUTER_LAYER:
            u0 = rhs[1, k] + rhs[3, k] * rp[0, k]
            v[k] += rp[0, k] - u0
            x0[k] += u0
            x1[k] += rhs[2, k] + diag[5, k] * u0
        else:
            v[k] += rp[0, k]
    membrane_states_all(v, c.act, st, c.par, c.celsius, dt, v_act)


@njit(cache=True, nogil=True)
def _step(v, x0, x1, st, e_out, i_stim, dt, diag, c, w):
    if DOUBLE_CABLE:
        _step_double(v, x0, x1, st, e_out, i_stim, dt, diag, c, w)
    else:
        _step_single(v, x0, x1, st, e_out, i_stim, dt, diag, c, w)


@njit(cache=True, nogil=True)
def _fill_rest(c, r, rest):
    """Fill ``rest`` = (v, x0, x1, st, done) with the fibre at rest, unless ``done[0]``: initialised, then
    ``r.pre_steps`` steps of ``r.pre_dt`` (ms) without stimulus.

    Every run of a fibre starts from this state, so it is computed once per fibre, by its first run, not by
    every run (and inside the kernels, so that a fresh process loads no extra compiled function).
    """
    v, x0, x1, st, done = rest
    if done[0]:
        return
    n = c.c_m.shape[0]
    v[:] = c.v_init
    x0[:] = 0.0
    x1[:] = 0.0
    for j in range(c.act.shape[0]):
        membrane_init(c.v_init, st[:, j], c.par, c.celsius)
    w = _workspace(n, c.act.shape[0])
    diag = _diagonal_constants(c, r.pre_dt)
    zero = np.zeros(n)
    for _ in range(r.pre_steps):
        _step(v, x0, x1, st, zero, zero, r.pre_dt, diag, c, w)
    done[0] = True


@njit(cache=True, nogil=True)
def _workspace(n, n_act):
    """Solver workspace: i_ion, g_act, v_i, right-hand sides (per unknown; the single cable's layer terms and
    diagonal in rows 1-4), eliminated blocks (cofactors and inverse determinant) and right-hand sides (then the
    changes), v of the active sections, their membrane currents and slopes."""
    return (np.empty(n), np.zeros(n), np.empty(n), np.empty((5, n)), np.empty((n, 4)), np.empty((2, n)),
            np.empty(n_act), np.empty((2, n_act)))


@njit(cache=True, nogil=True)
def simulate_kernel(c, r, rest, ve, wave, amp, stim, rec_idx, rec, t_first, t_interp, count, above):
    """Simulate one fibre from rest through the stimulus (plain arrays in this module's units).

    Parameters
    ----------
    c : CableArrays
        The circuit (nervesim.solver).
    r : RunControl
        Time step, pre-run, detection and early-exit settings (nervesim.solver).
    rest : tuple of ndarray
        The state runs start from, (v, x0, x1, st, done): filled by `_fill_rest` unless ``done[0]``, then
        copied.
    ve : ndarray
        Extracellular potential per compartment for 1 mA (mV).
    wave : ndarray
        Unit waveform, one sample per step; step n (t_n -> t_n + dt) applies amp * wave[n] * ve.
    amp : float
        Stimulus amplitude (mA).
    stim : tuple
        Intracellular pulse (compartment or -1, nA, delay ms, duration ms); on while
        delay <= t + dt/2 < delay + duration, as NEURON's IClamp.
    rec_idx, rec : ndarray
        Compartments to record and the output (len(rec_idx), len(wave) + 1) of their v (mV).
    t_first, t_interp, count, above : ndarray
        Outputs per node: APCount time of the first AP (ms), its interpolated crossing (ms; NaN if
        none), the count, and whether the node is above the AP threshold when the run ends.

    Returns
    -------
    int
        Steps run (fewer than len(wave) after an early stop); minus the step at which a node's
        potential became NaN.
    """
    n = c.c_m.shape[0]
    _fill_rest(c, r, rest)
    v, x0, x1, st = rest[0].copy(), rest[1].copy(), rest[2].copy(), rest[3].copy()
    w = _workspace(n, c.act.shape[0])
    e_out = np.zeros(n)
    i_stim = np.zeros(n)
    dt = r.dt
    diag = _diagonal_constants(c, dt)
    node_idx = c.node_idx
    n_nodes = node_idx.shape[0]
    firing = np.zeros(n_nodes, dtype=np.bool_)
    t_last = np.full(n_nodes, -1e300)
    v_old = np.empty(n_nodes)
    v_start = np.empty(n_nodes)
    for q in range(n_nodes):
        t_first[q] = np.nan
        t_interp[q] = np.nan
        count[q] = 0
        v_start[q] = v[node_idx[q]]
    for i in range(rec_idx.shape[0]):
        rec[i, 0] = v[rec_idx[i]]
    stim_idx, stim_nA, stim_del, stim_dur = stim
    t = 0.0
    n_steps = wave.shape[0]
    last_w = 0.0
    for step in range(n_steps):
        wv = amp * wave[step]
        if wv != last_w:
            for k in range(n):
                e_out[k] = wv * ve[k]
            last_w = wv
        if stim_idx >= 0:
            t_mid = t + 0.5 * dt
            i_stim[stim_idx] = stim_nA if stim_del <= t_mid < stim_del + stim_dur else 0.0
        for q in range(n_nodes):
            v_old[q] = v[node_idx[q]]
        _step(v, x0, x1, st, e_out, i_stim, dt, diag, c, w)
        t = t + 0.5 * dt  # two half steps, as NEURON accumulates t
        t = t + 0.5 * dt
        quiet = r.quiet_mV > 0.0 and step >= r.quiet_after
        for q in range(n_nodes):
            vq = v[node_idx[q]]
            if vq != vq:  # NaN: the model left its numerical range; report the step, negated
                return -(step + 1)
            if not firing[q] and vq >= r.ap_thresh:
                firing[q] = True
                count[q] += 1
                t_last[q] = t
                if count[q] == 1:
                    t_first[q] = t
                    t_interp[q] = t - dt + dt * (r.ap_thresh - v_old[q]) / (vq - v_old[q])
            elif firing[q] and vq < r.ap_thresh and t > t_last[q]:
                firing[q] = False
            if quiet:
                dev, dv = vq - v_start[q], vq - v_old[q]
                fastest = r.quiet_mV_ms * dt
                if dev > 0.0 and dv < 0.0:  # a depolarisation decaying back
                    fastest += dev * dt / r.quiet_decay_ms
                if (abs(dev) >= r.quiet_mV or abs(dv) >= fastest
                        or (dev * dv > 0.0 and abs(dev) > r.quiet_creep_min_mV and abs(dv) > r.quiet_creep_mV_ms * dt)):
                    quiet = False
        for i in range(rec_idx.shape[0]):
            rec[i, step + 1] = v[rec_idx[i]]
        if (r.stop_on_detect and count[r.det] > 0) or quiet:
            n_steps = step + 1
            break
    for q in range(n_nodes):
        above[q] = firing[q]
    return n_steps


@njit(cache=True, nogil=True, parallel=True)
def simulate_batch(c, r, rest, ve, wave, amps, t_first, t_interp, count, above, steps):
    """`simulate_kernel` for a batch of (potentials, amplitude) pairs, in parallel over the batch.

    No traces, no intracellular stimulus. ``ve`` has one row per member; ``t_first``, ``t_interp``,
    ``count`` and ``above`` one row per member; ``steps`` receives the steps each member ran.
    """
    no_rec = np.empty(0, dtype=np.int64)
    _fill_rest(c, r, rest)  # before the threads start
    for b in prange(amps.shape[0]):
        rec = np.empty((0, 0))
        steps[b] = simulate_kernel(c, r, rest, ve[b], wave, amps[b], (-1, 0.0, 0.0, 0.0), no_rec, rec,
                                   t_first[b], t_interp[b], count[b], above[b])


@njit(cache=True, nogil=True)
def membrane_balance_currents(c, out):
    """Per mechanism and ion, the current densities (mA/cm2) of one active section initialised at rest."""
    st = np.zeros(c.n_st)
    membrane_init(c.v_init, st, c.par, c.celsius)
    membrane_current(c.v_init, st, c.par, c.celsius)
    membrane_ion_currents(c.v_init, st, c.par, c.celsius, out)
    return st
