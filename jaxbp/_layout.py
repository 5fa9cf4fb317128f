"""Which layers the training loop keeps with W stored transposed (XLA:CPU tuning).

The numbers are the same either way (up to float rounding); only the memory layout of the
matrix products changes. With ``Wt = W.T`` carried by :func:`jaxbp.fit`'s loop instead of
``W``, and the forward product written as ``(W.T @ a.T).T``
(:func:`jaxbp.network.feedforward`'s ``transposed``):

* the forward product reads ``Wt`` as stored and writes z in the (n_out, batch) layout,
  which XLA's CPU matrix product does faster for these shapes (W5's first layer,
  128 x 784 -> 100: 98 us instead of 109 us, one core);
* BP2's ``delta @ W.T`` is ``delta @ Wt``, as stored;
* BP4's product is already computed as ``(delta.T @ a).T`` for big layers
  (:func:`jaxbp.backprop._outer_sum`): ``delta.T @ a`` is the gradient of ``Wt`` as it
  is written, so the optimizer update reads it without a transpose (20 us -> 9 us) --
  unless the layer before is stored transposed too, see the next point;
* the layer's output is held as (n_out, batch), so the next layer's BP4 product is
  ``a.T @ delta``, which reads it as stored (:func:`jaxbp.backprop._outer_sum`; the
  product of W5's output layer: 3.2 us instead of 7.0 us). If that next layer is stored
  transposed, its update then reads the gradient transposed: for W5's 100 x 10 that is
  under 0.5 us.

W5 (784-100-10, batch 128) went from 130 ms to 119-122 ms per epoch. Measured per layer on
this project's machine (AMD EPYC with AVX-512, one core; ``python -m bench.diagnose
--layouts``), the transposed layout is up to 48% faster, or within 2%, for every
layer with at most 32 outputs, every layer at batch <= 32, and at batch <= 128 when
n_in >= 2 x batch -- and up to 35% slower outside that (a 64-256 layer at batch 256), which
is why it is chosen per layer. On a mesh the rule sees each device's share of the batch;
under ``jax.vmap`` (products batched over runs) it was not measured. Only on the CPU
backend (GPU and TPU matrix units choose their own layouts), only for manual gradients
(the autodiff twin stays plain ``jax.grad``) and only for jaxbp's own optimizers, which
are elementwise and so do not care how a matrix is stored (an arbitrary optax
transformation might).
"""
import jax

# Smaller products (batch x n_in x n_out multiply-adds) stay as written: for them the
# layout changes the step by a fraction of a microsecond, either way (W4's 10 x 64 x 30
# first layer ran 5-10% slower transposed in the bench, 7% faster in another loop), and
# in a tiny net XLA fuses the whole step into one loop that a barrier would split.
MIN_MACS = 1 << 16


def transposed_layers(sizes, batch):
    """The indices of the layers of an MLP with ``sizes`` whose W a training loop at this
    batch size keeps transposed; ``()`` off the CPU backend."""
    if jax.default_backend() != "cpu":
        return ()
    return tuple(l for l, (n_in, n_out) in enumerate(zip(sizes[:-1], sizes[1:]))
                 if batch * n_in * n_out >= MIN_MACS
                 and (n_out <= 32 or batch <= 32 or (batch <= 128 and n_in >= 2 * batch)))


def stored(params, transposed):
    """``params`` with the W of each layer in ``transposed`` transposed (its own inverse:
    from the API's layout to the stored one and back)."""
    return tuple({**layer, "W": layer["W"].T} if l in transposed else layer
                 for l, layer in enumerate(params))
