TITLE MRG node of Ranvier (AXNODE kinetics) for nervesim's NEURON reference

COMMENT
Written for nervesim from the kinetics in mrg-model.md section 3 (McIntyre, Richardson &
Grill 2002; ASCENT/PyFibers axnode_myel variant with constant rates beyond +-150 mV when
clamp150 is nonzero). Fast Na (m3h), persistent Na (p3), slow K (s), leak; all nonspecific.
Q10 factors are fixed at INITIAL from celsius. Gates integrate with cnexp.
ENDCOMMENT

NEURON {
    SUFFIX nsim_axnode
    NONSPECIFIC_CURRENT inaf, inap, iks, il
    RANGE gnabar, gnapbar, gkbar, gl, ena, ek, el, clamp150
}

UNITS {
    (mA) = (milliamp)
    (mV) = (millivolt)
}

PARAMETER {
    gnabar = 3.0 (mho/cm2)
    gnapbar = 0.01 (mho/cm2)
    gkbar = 0.08 (mho/cm2)
    gl = 0.007 (mho/cm2)
    ena = 50.0 (mV)
    ek = -90.0 (mV)
    el = -90.0 (mV)
    clamp150 = 1
    celsius (degC)
}

STATE { p m h s }

ASSIGNED {
    v (mV)
    inaf (mA/cm2)
    inap (mA/cm2)
    iks (mA/cm2)
    il (mA/cm2)
    pinf minf hinf sinf
    ptau (ms) mtau (ms) htau (ms) stau (ms)
    q1 q2 q3
}

BREAKPOINT {
    SOLVE states METHOD cnexp
    inaf = gnabar * m * m * m * h * (v - ena)
    inap = gnapbar * p * p * p * (v - ena)
    iks = gkbar * s * (v - ek)
    il = gl * (v - el)
}

DERIVATIVE states {
    settables(v)
    p' = (pinf - p) / ptau
    m' = (minf - m) / mtau
    h' = (hinf - h) / htau
    s' = (sinf - s) / stau
}

INITIAL {
    q1 = 2.2 ^ ((celsius - 20) / 10)
    q2 = 2.9 ^ ((celsius - 20) / 10)
    q3 = 3.0 ^ ((celsius - 36) / 10)
    settables(v)
    p = pinf
    m = minf
    h = hinf
    s = sinf
}

PROCEDURE settables(v (mV)) {
    LOCAL a, b
    a = q1 * alp(v)
    b = q1 * bet_p(v)
    pinf = a / (a + b)
    ptau = 1 / (a + b)
    a = q1 * alm(v)
    b = q1 * betm(v)
    minf = a / (a + b)
    mtau = 1 / (a + b)
    a = q2 * alh(v)
    b = q2 * beth(v)
    hinf = a / (a + b)
    htau = 1 / (a + b)
    a = q3 * als(v)
    b = q3 * bets(v)
    sinf = a / (a + b)
    stau = 1 / (a + b)
}

FUNCTION guarded_exp(x) {
    if (x < -100) {
        guarded_exp = 0
    } else {
        guarded_exp = exp(x)
    }
}

FUNCTION alp(v (mV)) {
    if (fabs((v + 27) / 10.2) < 1e-6) {
        alp = 0.102
    } else if (clamp150 && v < -150) {
        alp = 0.00086725
    } else {
        alp = 0.01 * (v + 27) / (1 - guarded_exp(-(v + 27) / 10.2))
    }
}

FUNCTION bet_p(v (mV)) {
    if (fabs((v + 34) / 10) < 1e-6) {
        bet_p = 0.0025
    } else if (clamp150 && v > 150) {
        bet_p = 1.5855e-05
    } else {
        bet_p = 0.00025 * (-(v + 34)) / (1 - guarded_exp((v + 34) / 10))
    }
}

FUNCTION alm(v (mV)) {
    if (fabs((v + 21.4) / 10.3) < 1e-6) {
        alm = 19.158
    } else if (clamp150 && v < -150) {
        alm = 0.15733
    } else {
        alm = 1.86 * (v + 21.4) / (1 - guarded_exp(-(v + 21.4) / 10.3))
    }
}

FUNCTION betm(v (mV)) {
    if (fabs((v + 25.7) / 9.16) < 1e-6) {
        betm = 0.78776
    } else if (clamp150 && v > 150) {
        betm = 0.0057268
    } else {
        betm = 0.086 * (-(v + 25.7)) / (1 - guarded_exp((v + 25.7) / 9.16))
    }
}

FUNCTION alh(v (mV)) {
    if (fabs((v + 114) / 11) < 1e-6) {
        alh = 0.682
    } else if (clamp150 && v > 150) {
        alh = 0.0032594
    } else {
        alh = 0.062 * (-(v + 114)) / (1 - guarded_exp((v + 114) / 11))
    }
}

FUNCTION beth(v (mV)) {
    if (clamp150 && v < -150) {
        beth = 0.0014054
    } else {
        beth = 2.3 / (1 + guarded_exp(-(v + 31.8) / 13.4))
    }
}

FUNCTION als(v (mV)) {
    if (clamp150 && v < -150) {
        als = 3.3484e-05
    } else {
        als = 0.3 / (1 + guarded_exp(-(v + 53) / 5))
    }
}

FUNCTION bets(v (mV)) {
    if (clamp150 && v < -150) {
        bets = 3.3484e-06
    } else {
        bets = 0.03 / (1 + guarded_exp(-(v + 90)))
    }
}
