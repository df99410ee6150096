import pytest
import scipy.sparse as sp
import torch
import torch.nn.functional as F
from torch.utils._python_dispatch import TorchDispatchMode

from attentionae_sc.graph import gcn_normalize, to_torch
from attentionae_sc.losses import CountTarget, GraphTarget
from attentionae_sc.module import AttentionAEModule, FusionAttention, GCNLayer

N, GENES = 40, 30


@pytest.fixture
def inputs():
    torch.manual_seed(0)
    x = torch.randn(N, GENES)
    adjacency = sp.random(N, N, density=0.1, random_state=0, format="csr")
    adjacency = adjacency + adjacency.T
    return x, to_torch(gcn_normalize(adjacency), torch.device("cpu"))


def _module(ablation="none", **kwargs):
    torch.manual_seed(1)
    return AttentionAEModule(GENES, ablation=ablation, **kwargs).eval()


def test_output_shapes(inputs):
    x, adjacency = inputs
    out = _module()(x, adjacency, torch.full((N,), 2.0))
    assert out.z.shape == (N, 16)
    assert out.graph_embedding.shape == (N, 16)
    for tensor in (out.pi, out.mu, out.theta):
        assert tensor.shape == (N, GENES)
    assert out.reconstruction is None
    assert ((out.pi > 0) & (out.pi < 1)).all()
    assert (out.theta >= 1e-4).all() and (out.theta <= 1e3).all()
    assert (out.mu >= 2e-5).all()  # scaled by size factor 2


def test_mu_is_scaled_by_size_factors(inputs):
    x, adjacency = inputs
    module = _module()
    one = module(x, adjacency, torch.ones(N)).mu
    three = module(x, adjacency, torch.full((N,), 3.0)).mu
    torch.testing.assert_close(three, 3 * one)


def test_fusion_attention_matches_the_explicit_formula():
    torch.manual_seed(0)
    block = FusionAttention(dim=6, heads=3, dropout=0.2).eval()
    graph_emb, dae_emb = torch.randn(20, 6), torch.randn(20, 6)
    q = block.to_query(graph_emb).view(20, 3, 6).transpose(0, 1) / 6**0.25
    k = block.to_key(dae_emb).view(20, 3, 6).transpose(0, 1) / 6**0.25
    v = block.to_value(dae_emb).view(20, 3, 6).transpose(0, 1)
    heads = torch.softmax(q @ k.transpose(1, 2), dim=2) @ v
    expected = block.unify_heads(heads.transpose(0, 1).reshape(20, 18))
    torch.testing.assert_close(block(graph_emb, dae_emb), expected, rtol=1e-5, atol=1e-6)


def test_gcn_layer_is_tanh_of_a_w(inputs):
    _, adjacency = inputs
    layer = GCNLayer(5, 3)
    h = torch.randn(N, 5)
    torch.testing.assert_close(layer(h, adjacency),
                               torch.tanh(adjacency.to_dense() @ h @ layer.weight))


def test_embedding_depends_on_the_graph_only_with_the_gae(inputs):
    x, adjacency = inputs
    other = to_torch(gcn_normalize(sp.identity(N, format="csr")), torch.device("cpu"))
    full = _module()
    assert not torch.allclose(full.encode(x, adjacency)[0], full.encode(x, other)[0])
    no_gnn = _module("no_gnn")
    z, h2 = no_gnn.encode(x, None)
    assert h2 is None
    torch.testing.assert_close(z, no_gnn.encode(x, adjacency)[0])
    with pytest.raises(ValueError, match="needs the cell graph"):
        full.encode(x, None)


def test_no_attention_is_the_plain_dae_encoder(inputs):
    x, adjacency = inputs
    module = _module("no_attention")
    assert not hasattr(module, "fusion1")
    z, _ = module.encode(x, adjacency)
    torch.testing.assert_close(z, module.z_layer(module.enc2(module.enc1(x))))


def test_no_residual_drops_exactly_the_residual_term(inputs):
    x, adjacency = inputs
    full, no_res = _module(), _module("no_residual")
    no_res.load_state_dict(full.state_dict())
    e0 = full.enc1(x)
    h1 = full.gcn1(e0, adjacency)
    h2 = full.gcn2(h1, adjacency)
    e1 = full.enc2(e0)
    r1_full, r1_nores = full.fusion1(h1, e1) + e1, full.fusion1(h1, e1)
    e2_full, e2_nores = full.z_layer(r1_full), full.z_layer(r1_nores)
    torch.testing.assert_close(full.encode(x, adjacency)[0], full.fusion2(h2, e2_full) + e2_full)
    torch.testing.assert_close(no_res.encode(x, adjacency)[0], full.fusion2(h2, e2_nores))


def test_no_zinb_reconstructs_the_scaled_input_with_mse(inputs):
    x, adjacency = inputs
    module = _module("no_zinb")
    out = module(x, adjacency)
    assert out.pi is None and out.reconstruction.shape == (N, GENES)
    dense = sp.csr_matrix(adjacency.to_dense().numpy())
    target = GraphTarget.from_scipy(dense, torch.device("cpu"))
    reconstruction, graph = module.losses(out, x=x, counts=torch.zeros_like(x),
                                          graph_target=target)
    torch.testing.assert_close(reconstruction, F.mse_loss(out.reconstruction, x))
    assert graph.item() > 0


def test_noise_only_in_training_mode(inputs):
    x, adjacency = inputs
    for noise in ("input", "relative"):
        module = _module(noise=noise, attention_dropout=0.0)
        torch.testing.assert_close(module.encode(x, adjacency)[0], module.encode(x, adjacency)[0])
        module.train()
        torch.manual_seed(0)
        first = module.encode(x, adjacency)[0]
        torch.manual_seed(1)
        assert not torch.allclose(first, module.encode(x, adjacency)[0])


def test_clustering_parameters_exclude_the_decoder_and_batchnorm():
    module = _module()
    chosen = {id(p) for p in module.clustering_parameters()}
    assert all(id(p) not in chosen for p in module.decoder.parameters())
    assert all(id(p) not in chosen for p in module.mu_head.parameters())
    batchnorms = [m for m in module.modules() if isinstance(m, torch.nn.BatchNorm1d)]
    assert len(batchnorms) == 2
    assert all(id(p) not in chosen for m in batchnorms for p in m.parameters())
    assert all(id(p) in chosen for p in module.enc1[0].parameters())
    assert all(id(p) in chosen for p in module.enc2[0].parameters())
    assert all(id(p) in chosen for p in module.z_layer.parameters())
    assert all(id(p) in chosen for p in module.fusion2.parameters())
    assert all(id(p) in chosen for p in module.gcn1.parameters())


def test_clustering_stage_trains_only_the_clustering_parameters(inputs):
    x, adjacency = inputs
    module = _module().train()
    module(x, adjacency).z.sum().backward()  # a pretraining step leaves gradients everywhere
    chosen = {id(p) for p in module.clustering_parameters()}
    with module.clustering_stage() as trained:
        assert {id(p) for p in trained} == chosen
        assert all(p.grad is None for p in module.parameters() if id(p) not in chosen)
        out = module(x, adjacency, torch.ones(N))
        (out.z.sum() + out.mu.sum()).backward()
        assert all(p.grad is None for p in module.mu_head.parameters())
        assert all(p.grad is None for p in module.decoder.parameters())
        assert module.enc1[0].weight.grad is not None
    assert all(p.requires_grad for p in module.parameters())


class _LargestDenseTensor(TorchDispatchMode):
    """Records the most entries of any dense tensor an op returns, backward included."""

    largest = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in out if isinstance(out, (tuple, list)) else (out,):
            if isinstance(t, torch.Tensor) and t.layout == torch.strided:
                self.largest = max(self.largest, t.numel())
        return out


def test_a_training_step_allocates_no_dense_n_by_n_tensor():
    # memory O(n) is what lets full-batch training scale (GPU); this checks it op by op on CPU:
    # sparse GCN, fused attention and the graph loss in row blocks keep every tensor below n^2.
    # The blocks here are 50 rows; the default's 2^25 entries are the whole n x n below 5793
    # cells (next test), where that is at most 128 MB.
    n, genes = 1000, 20
    torch.manual_seed(0)
    knn = sp.random(n, n, density=15 / n, random_state=0, format="csr")
    knn = knn + knn.T
    target = GraphTarget.from_scipy(knn, torch.device("cpu"), block_elements=50 * n)
    counts = CountTarget.from_counts(torch.poisson(torch.full((n, genes), 0.5)))
    x, adjacency = torch.randn(n, genes), to_torch(gcn_normalize(knn), torch.device("cpu"))
    module = AttentionAEModule(genes).train()
    with _LargestDenseTensor() as mode:
        out = module(x, adjacency, torch.ones(n))
        reconstruction, graph = module.losses(out, x=x, counts=counts, graph_target=target)
        (reconstruction + graph).backward()
    assert 0 < mode.largest < n * n


def test_graph_loss_blocks_hold_at_most_block_elements_entries():
    for n in (1000, 5792, 5793, 20_000):
        blocks = GraphTarget.from_scipy(sp.identity(n, format="csr"), torch.device("cpu")).blocks
        sizes = [(stop - start) * n for start, stop, *_ in blocks]
        assert max(sizes) <= 2**25 and sum(sizes) == n * n
        assert (len(blocks) == 1) == (n * n <= 2**25)
