"""Course-style layers for the tests of check_backward: plain NumPy forward/backward pairs.

Written the way the widely taught assignments lay them out (our own code): ``out, cache = *_forward(...)``
and ``d_inputs = *_backward(dout, cache)``, losses returning ``(loss, dx)``, and the digits network's
``nn_cost_function`` over unrolled parameters returning ``(J, grad)``. Nothing here knows about
autograd_nn. The ``mistake=`` switches plant the errors learners make, one at a time.
"""

from __future__ import annotations

import numpy as np

# ---------------------------------------------------------------- affine and activations


def affine_forward(x, w, b):
    """out = x w + b, with each example of x flattened to a row."""
    rows = x.reshape(x.shape[0], -1)
    out = rows.dot(w) + b
    return out, (x, w, b)


def affine_backward(dout, cache, mistake=None):
    x, w, b = cache
    rows = x.reshape(x.shape[0], -1)
    dx = dout.dot(w.T).reshape(x.shape)
    dw = dout.T.dot(rows) if mistake == "transpose" else rows.T.dot(dout)
    if mistake == "bias not summed":
        db = dout  # one row per example: the broadcast of b in the forward is never undone
    elif mistake == "bias without keepdims":
        db = np.sum(dout, axis=0)  # b is (1, M): this is (M,)
    else:
        db = np.sum(dout, axis=0, keepdims=b.ndim == 2)
    return dx, dw, db


def relu_forward(x):
    return np.maximum(0, x), x


def relu_backward(dout, cache, mistake=None):
    x = cache
    if mistake == "no derivative":
        return dout.copy()  # the (x > 0) mask is missing
    return dout * (x > 0)


def sigmoid_forward(x):
    out = 1 / (1 + np.exp(-x))
    return out, out


def sigmoid_backward(dout, cache, mistake=None):
    s = cache
    dx = dout * s * (1 - s)
    return -dx if mistake == "sign" else dx


def tanh_forward(x):
    out = np.tanh(x)
    return out, out


def tanh_backward(dout, cache, mistake=None):
    t = cache
    return dout if mistake == "no derivative" else dout * (1 - t**2)


# ---------------------------------------------------------------- normalisation and dropout


def batchnorm_forward(x, gamma, beta, bn_param):
    """Training mode: normalise with the batch's mean and (biased) variance; update the running averages."""
    eps = bn_param.get("eps", 1e-5)
    momentum = bn_param.get("momentum", 0.9)
    mean = np.mean(x, axis=0)
    var = np.var(x, axis=0)
    inv_std = 1 / np.sqrt(var + eps)
    x_hat = (x - mean) * inv_std
    out = gamma * x_hat + beta
    bn_param["running_mean"] = momentum * bn_param.get("running_mean", 0.0) + (1 - momentum) * mean
    bn_param["running_var"] = momentum * bn_param.get("running_var", 1.0) + (1 - momentum) * var
    return out, (x_hat, gamma, inv_std)


def batchnorm_backward(dout, cache, mistake=None):
    x_hat, gamma, inv_std = cache
    n = dout.shape[0]
    dbeta = dout.sum(axis=0)
    dgamma = np.sum(dout * x_hat, axis=0)
    dx_hat = dout * gamma
    scale = 1 / n if mistake == "missing 1/N" else 1
    dx = (1 / n) * inv_std * (n * dx_hat - dx_hat.sum(axis=0) - x_hat * np.sum(dx_hat * x_hat, axis=0))
    return dx / scale if mistake == "missing 1/N" else dx, dgamma, dbeta


def variance_forward(x):
    """The batch variance with Bessel's correction, one step of a makemore-style BatchNorm: (1, D)."""
    n = x.shape[0]
    diff = x - x.mean(axis=0, keepdims=True)
    out = 1 / (n - 1) * np.sum(diff**2, axis=0, keepdims=True)
    return out, diff


def variance_backward(dout, cache, mistake=None):
    diff = cache
    n = diff.shape[0]
    divisor = n if mistake == "missing Bessel" else n - 1  # the forward divides by n - 1
    return 2 / divisor * diff * dout


def layernorm_forward(x, gamma, beta, ln_param):
    eps = ln_param.get("eps", 1e-5)
    mean = x.mean(axis=1, keepdims=True)
    centred = x - mean
    inv_std = 1 / np.sqrt((centred**2).mean(axis=1, keepdims=True) + eps)
    x_hat = centred * inv_std
    return gamma * x_hat + beta, (x_hat, gamma, inv_std)


def layernorm_backward(dout, cache):
    x_hat, gamma, inv_std = cache
    d = x_hat.shape[1]
    dgamma = np.sum(dout * x_hat, axis=0)
    dbeta = np.sum(dout, axis=0)
    dx_hat = dout * gamma
    dx = (
        inv_std
        / d
        * (
            d * dx_hat
            - dx_hat.sum(axis=1, keepdims=True)
            - x_hat * (dx_hat * x_hat).sum(axis=1, keepdims=True)
        )
    )
    return dx, dgamma, dbeta


def dropout_forward(x, dropout_param):
    """Inverted dropout: keep each unit with probability p, scaled by 1/p; the mask comes from the param's seed."""
    p = dropout_param["p"]
    if "seed" in dropout_param:
        np.random.seed(dropout_param["seed"])
    mask = (np.random.rand(*x.shape) < p) / p
    return x * mask, mask


def dropout_backward(dout, cache):
    mask = cache
    return dout * mask


# ---------------------------------------------------------------- naive convolution and pooling (loops)


def conv_forward_naive(x, w, b, conv_param):
    """x (N, C, H, W), w (F, C, HH, WW), b (F,): each output is a window of the padded input dotted with a filter."""
    stride, pad = conv_param["stride"], conv_param["pad"]
    n_images, _, height, width = x.shape
    filters, _, hh, ww = w.shape
    x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)), mode="constant")
    out_h = 1 + (height + 2 * pad - hh) // stride
    out_w = 1 + (width + 2 * pad - ww) // stride
    out = np.zeros((n_images, filters, out_h, out_w))
    for n in range(n_images):
        for f in range(filters):
            for i in range(out_h):
                for j in range(out_w):
                    window = x_pad[n, :, i * stride : i * stride + hh, j * stride : j * stride + ww]
                    out[n, f, i, j] = np.sum(window * w[f]) + b[f]
    return out, (x, w, b, conv_param)


def conv_backward_naive(dout, cache, mistake=None):
    x, w, _, conv_param = cache
    stride, pad = conv_param["stride"], conv_param["pad"]
    n_images, _, height, width = x.shape
    filters, _, hh, ww = w.shape
    x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)), mode="constant")
    out_h, out_w = dout.shape[2], dout.shape[3]
    if mistake == "off-by-one window":
        out_h, out_w = (
            (height + 2 * pad - hh) // stride,
            (width + 2 * pad - ww) // stride,
        )  # the 1 + is missing
    dx_pad = np.zeros_like(x_pad)
    dw = np.zeros_like(w)
    db = dout.sum(axis=(0, 2, 3))
    for n in range(n_images):
        for f in range(filters):
            for i in range(out_h):
                for j in range(out_w):
                    rows = slice(i * stride, i * stride + hh)
                    cols = slice(j * stride, j * stride + ww)
                    dw[f] += x_pad[n, :, rows, cols] * dout[n, f, i, j]
                    dx_pad[n, :, rows, cols] += w[f] * dout[n, f, i, j]
    dx = dx_pad[:, :, pad : pad + height, pad : pad + width]
    return dx, dw, db


def conv_forward_vectorised(x, w, b, conv_param):
    """The same convolution as one matrix product over all windows (im2col with fancy indexing)."""
    stride, pad = conv_param["stride"], conv_param["pad"]
    n_images, channels, height, width = x.shape
    filters, _, hh, ww = w.shape
    x_pad = np.pad(x, ((0, 0), (0, 0), (pad, pad), (pad, pad)), mode="constant")
    out_h = 1 + (height + 2 * pad - hh) // stride
    out_w = 1 + (width + 2 * pad - ww) // stride
    rows = (np.arange(out_h) * stride)[:, None] + np.arange(hh)[None, :]  # (out_h, hh)
    cols = (np.arange(out_w) * stride)[:, None] + np.arange(ww)[None, :]  # (out_w, ww)
    windows = x_pad[:, :, rows[:, None, :, None], cols[None, :, None, :]]  # (N, C, out_h, out_w, hh, ww)
    columns = windows.transpose(0, 2, 3, 1, 4, 5).reshape(n_images * out_h * out_w, channels * hh * ww)
    out = columns @ w.reshape(filters, -1).T + b  # (N * out_h * out_w, F)
    out = out.reshape(n_images, out_h, out_w, filters).transpose(0, 3, 1, 2)
    return out, (x, w, b, conv_param)


def max_pool_forward_naive(x, pool_param):
    height, width, stride = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    n_images, channels, h, w = x.shape
    out_h, out_w = 1 + (h - height) // stride, 1 + (w - width) // stride
    out = np.zeros((n_images, channels, out_h, out_w))
    for i in range(out_h):
        for j in range(out_w):
            window = x[:, :, i * stride : i * stride + height, j * stride : j * stride + width]
            out[:, :, i, j] = np.max(window, axis=(2, 3))
    return out, (x, pool_param)


def max_pool_backward_naive(dout, cache):
    x, pool_param = cache
    height, width, stride = pool_param["pool_height"], pool_param["pool_width"], pool_param["stride"]
    dx = np.zeros_like(x)
    for i in range(dout.shape[2]):
        for j in range(dout.shape[3]):
            window = x[:, :, i * stride : i * stride + height, j * stride : j * stride + width]
            is_max = window == window.max(axis=(2, 3), keepdims=True)
            dx[:, :, i * stride : i * stride + height, j * stride : j * stride + width] += (
                is_max * dout[:, :, i, j][:, :, None, None]
            )
    return dx


# ---------------------------------------------------------------- losses: (loss, dx)


def softmax_loss(x, y, mistake=None):
    """Mean cross-entropy of the softmax of the scores x (N, C) against integer labels y, and d loss / dx."""
    n = x.shape[0]
    shifted = x - np.max(x, axis=1, keepdims=True)
    log_probs = shifted - np.log(np.sum(np.exp(shifted), axis=1, keepdims=True))
    loss = -np.sum(log_probs[np.arange(n), y]) / n
    dx = np.exp(log_probs) - np.eye(x.shape[1])[y]
    return loss, dx if mistake == "missing 1/N" else dx / n


def svm_loss(x, y):
    """Mean multiclass hinge loss with margin 1, and d loss / dx."""
    n = x.shape[0]
    correct = x[np.arange(n), y]
    margins = np.maximum(0, x - correct[:, None] + 1.0)
    margins[np.arange(n), y] = 0
    loss = np.sum(margins) / n
    positive = (margins > 0).astype(float)
    positive[np.arange(n), y] = -positive.sum(axis=1)
    return loss, positive / n


# ---------------------------------------------------------------- the digits network: unrolled parameters


def sigmoid(z):
    return 1 / (1 + np.exp(-z))


def nn_cost_function(nn_params, input_size, hidden_size, num_labels, X, Y, lam, mistake=None):
    """The tutorial network's cost and gradient with theta1 (hidden, input + 1) and theta2
    (labels, hidden + 1) unrolled into one vector; column 0 of each theta multiplies the bias unit."""
    split = hidden_size * (input_size + 1)
    theta1 = np.reshape(nn_params[:split], (hidden_size, input_size + 1))
    theta2 = np.reshape(nn_params[split:], (num_labels, hidden_size + 1))
    m = X.shape[0]
    ones = np.ones((m, 1))
    a1 = np.hstack([ones, X])
    z2 = np.dot(a1, theta1.T)
    a2 = np.hstack([ones, sigmoid(z2)])
    h = sigmoid(np.dot(a2, theta2.T))
    J = np.sum(-Y * np.log(h) - (1 - Y) * np.log(1 - h)) / m
    J = J + lam / (2 * m) * (np.sum(theta1[:, 1:] ** 2) + np.sum(theta2[:, 1:] ** 2))

    delta3 = Y - h if mistake == "sign" else h - Y
    delta2 = np.dot(delta3, theta2)[:, 1:] * sigmoid(z2) * (1 - sigmoid(z2))
    per_example = 1 if mistake == "missing 1/m" else m
    theta1_grad = np.dot(delta2.T, a1) / per_example
    theta2_grad = np.dot(delta3.T, a2) / per_example
    theta1_grad = theta1_grad + lam / m * np.hstack([np.zeros((hidden_size, 1)), theta1[:, 1:]])
    theta2_grad = theta2_grad + lam / m * np.hstack([np.zeros((num_labels, 1)), theta2[:, 1:]])
    return J, np.concatenate([theta1_grad.ravel(), theta2_grad.ravel()])
