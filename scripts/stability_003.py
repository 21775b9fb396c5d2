#!/usr/bin/python3
"""Paper 003, Figure 1 at alpha = 1: is GD with mu = 0.005 stable at U0 = alpha G?

usage: /usr/bin/python3 scripts/stability_003.py   (about a minute; NumPy only)

Prints mu * lambda_max of the Hessian of f at U0 (power iteration on the exact
Hessian-vector product) for m in {1000, 2000, 5000}, alpha in {1, 0.1}, and two
readings of Z* (X X^T with X iid N(0, 1), and the same scaled to ||Z*|| = 1),
and for full observation. Explicit Euler (= GD) is stable near U0 only if it
is below 2. docs/figures_003.md uses it.
"""
# mu * lambda_max(Hessian of f) at U0 = alpha G (d = 50, r = 50) for paper 003's loss,
# f(U) = 1/(4m) sum_i (<A_i, UU^T> - y_i)^2, A_i symmetric with iid N(0,1) upper triangles.
import numpy as np
rng = np.random.default_rng(1)
d, r, mu = 50, 50, 0.005
iu = np.triu_indices(d)
def sym(v):
    M = np.zeros((d, d)); M[iu] = v; return M + M.T - np.diag(np.diag(M))
G = rng.standard_normal((d, r))
Xg = rng.standard_normal((d, 5)); Zg = Xg @ Xg.T
def packed(X):  # <A_i, X> = a_i . w(X) with off-diagonal weight 2
    W = 2 * X - np.diag(np.diag(X)); return W[iu]
for m in (1000, 2000, 5000):
    Araw = rng.standard_normal((m, len(iu[0])))
    for alpha in (1.0, 0.1):
        U = alpha * G
        for name, Z in (("gaussian Z*", Zg), ("||Z*|| = 1", Zg / np.linalg.norm(Zg, 2))):
            y = Araw @ packed(Z)
            res = Araw @ packed(U @ U.T) - y
            S = sym(Araw.T @ res) / m  # A*(r) with the 1/m of f
            V = rng.standard_normal((d, r)); V /= np.linalg.norm(V)
            for _ in range(60):
                Q = U @ V.T + V @ U.T
                HV = sym(Araw.T @ (Araw @ packed(Q))) / m @ U + S @ V
                lam = np.linalg.norm(HV); V = HV / lam
            print("m = %d alpha = %g %-11s: mu * lambda_max(H) = %.2f  (GD needs < 2)" % (m, alpha, name, mu * lam))
    # full observation for comparison (A*A = identity)
U = G
V = rng.standard_normal((d, r)); V /= np.linalg.norm(V)
for _ in range(60):
    HV = (U @ V.T + V @ U.T) @ U + (U @ U.T - Zg / np.linalg.norm(Zg, 2)) @ V
    lam = np.linalg.norm(HV); V = HV / lam
print("full observation, alpha = 1: mu * lambda_max(H) = %.2f" % (mu * lam))
