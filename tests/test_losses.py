import numpy as np
import pytest
import scipy.sparse as sp
import torch
from scipy import stats

from attentionae_sc.losses import (
    CountTarget,
    GraphTarget,
    graph_reconstruction_mse,
    kl_divergence,
    student_t_q,
    target_distribution,
    zinb_nll,
)


def _random_zinb(seed, n=200):
    rng = np.random.default_rng(seed)
    mu = rng.gamma(2.0, 3.0, n)
    theta = rng.gamma(2.0, 2.0, n)
    pi = rng.uniform(0.0, 0.6, n)
    counts = rng.negative_binomial(theta, theta / (theta + mu)).astype(float)
    counts[rng.random(n) < pi] = 0
    return [torch.tensor(v, dtype=torch.float64) for v in (counts, mu, theta, pi)]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_nb_nll_matches_scipy(seed):
    counts, mu, theta, _ = _random_zinb(seed)
    ours = zinb_nll(counts, mu, theta, torch.zeros_like(mu), eps=0.0)
    p = (theta / (theta + mu)).numpy()
    expected = -stats.nbinom.logpmf(counts.numpy(), theta.numpy(), p).mean()
    assert ours.item() == pytest.approx(expected, rel=1e-10)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_zinb_nll_matches_scipy_mixture(seed):
    counts, mu, theta, pi = _random_zinb(seed)
    ours = zinb_nll(counts, mu, theta, pi, eps=0.0)
    nb_pmf = stats.nbinom.pmf(counts.numpy(), theta.numpy(), (theta / (theta + mu)).numpy())
    likelihood = pi.numpy() * (counts.numpy() == 0) + (1 - pi.numpy()) * nb_pmf
    assert ours.item() == pytest.approx(-np.log(likelihood).mean(), rel=1e-10)


def test_zinb_default_eps_is_close_and_count_target_is_equal():
    counts, mu, theta, pi = _random_zinb(5)
    exact = zinb_nll(counts, mu, theta, pi, eps=0.0)
    guarded = zinb_nll(counts, mu, theta, pi)
    assert guarded.item() == pytest.approx(exact.item(), rel=1e-4)
    cached = zinb_nll(CountTarget.from_counts(counts), mu, theta, pi)
    assert cached.item() == guarded.item()


def _dense_zinb_nll(counts, mu, theta, pi, eps=1e-6):
    """Both cases on every entry, then a per-entry choice: the textbook form."""
    nb = (torch.lgamma(theta + eps) + torch.lgamma(counts + 1) - torch.lgamma(counts + theta + eps)
          + theta * (torch.log(theta + mu + eps) - torch.log(theta + eps))
          + counts * (torch.log(theta + mu + eps) - torch.log(mu + eps)))
    nb_zero = torch.exp(theta * (torch.log(theta + eps) - torch.log(theta + mu + eps)))
    zero = -torch.log(pi + (1 - pi) * nb_zero + eps)
    return torch.where(counts == 0, zero, nb - torch.log(1 - pi + eps)).mean()


def test_zinb_on_mostly_zero_matrix_matches_dense_form_in_value_and_gradient():
    rng = np.random.default_rng(3)
    shape = (40, 30)
    counts = torch.tensor(rng.poisson(5.0, shape) * (rng.random(shape) < 0.1), dtype=torch.float64)
    assert 0.8 < (counts == 0).double().mean() < 1.0
    values = (rng.gamma(2.0, 3.0, shape), rng.gamma(2.0, 2.0, shape), rng.uniform(0.0, 0.6, shape))
    grads = []
    for loss in (zinb_nll, _dense_zinb_nll):
        params = [torch.tensor(v, requires_grad=True) for v in values]  # mu, theta, pi
        value = loss(counts, *params)
        value.backward()
        grads.append((value.item(), [p.grad for p in params]))
    (ours, our_grads), (dense, dense_grads) = grads
    assert ours == pytest.approx(dense, rel=1e-12)
    for a, b in zip(our_grads, dense_grads):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("symmetric", [True, False])
@pytest.mark.parametrize("block_elements", [10**9, 7 * 25])  # one block, or blocks of 7 rows
def test_blockwise_graph_mse_equals_dense_mse_and_gradient(symmetric, block_elements):
    rng = np.random.default_rng(0)
    n = 25
    dense = rng.random((n, n)) * (rng.random((n, n)) < 0.2)
    if symmetric:
        dense = np.maximum(dense, dense.T)
    target = GraphTarget.from_scipy(sp.csr_matrix(dense), torch.device("cpu"),
                                    block_elements=block_elements)
    assert len(target.blocks) == (1 if block_elements > n * n else 4)
    h = torch.randn(n, 4, dtype=torch.float64, requires_grad=True)
    ours = graph_reconstruction_mse(h, target)
    (grad_ours,) = torch.autograd.grad(ours, h)
    h_ref = h.detach().clone().requires_grad_(True)
    reference = torch.nn.functional.mse_loss(
        torch.sigmoid(h_ref @ h_ref.T), torch.tensor(dense, dtype=torch.float32).double())
    reference.backward()
    assert ours.item() == pytest.approx(reference.item(), rel=1e-6)
    torch.testing.assert_close(grad_ours, h_ref.grad, rtol=1e-5, atol=1e-9)


def test_student_t_rows_sum_to_one_and_follow_the_kernel():
    z = torch.randn(30, 5, dtype=torch.float64)
    centres = torch.randn(4, 5, dtype=torch.float64)
    q = student_t_q(z, centres)
    torch.testing.assert_close(q.sum(1), torch.ones(30, dtype=torch.float64))
    kernel = 1.0 / (1.0 + torch.cdist(z, centres) ** 2)
    torch.testing.assert_close(q, kernel / kernel.sum(1, keepdim=True))
    q2 = student_t_q(z, centres, power=2.0)  # the authors' q**2 variant
    torch.testing.assert_close(q2, kernel**2 / (kernel**2).sum(1, keepdim=True))


def test_target_distribution_sharpens_q():
    z = torch.randn(200, 3, dtype=torch.float64)
    centres = torch.tensor([[2.0, 0, 0], [-2.0, 0, 0], [0, 2.0, 0]], dtype=torch.float64)
    q = student_t_q(z, centres)
    p = target_distribution(q)
    torch.testing.assert_close(p.sum(1), torch.ones(200, dtype=torch.float64))

    def entropy(d):
        return -(d * d.log()).sum(1).mean()

    assert entropy(p) < entropy(q)
    frequency = q.sum(0)
    expected = (q**2 / frequency) / (q**2 / frequency).sum(1, keepdim=True)
    torch.testing.assert_close(p, expected)


def test_kl_divergence_is_batch_mean_of_rowwise_kl():
    q = torch.softmax(torch.randn(10, 4, dtype=torch.float64), 1)
    p = target_distribution(q)
    expected = (p * (p / q).log()).sum(1).mean()
    torch.testing.assert_close(kl_divergence(p, q), expected)
    assert kl_divergence(q, q).item() == pytest.approx(0.0, abs=1e-12)
