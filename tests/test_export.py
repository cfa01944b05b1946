"""ONNX export (:mod:`foldpitch.export`, ``foldpitch export-onnx``) and
``predict(..., backend="onnx")``.

The reference is always PyTorch: the exported file run by onnxruntime must give the
network's own outputs (within :data:`~foldpitch.export.ONNX_TOLERANCE`), and the ONNX
backend of :func:`~foldpitch.predict.predict` the torch backend's result (within
:data:`~foldpitch.predict.ONNX_BACKEND_TOLERANCE`); with the shipped network, both
must also find the known f0 of harmonic tones.
"""

from __future__ import annotations

import importlib
import sys

import numpy as np
import pytest
import torch

from foldpitch.cli import main
from foldpitch.export import ONNX_TOLERANCE, export_onnx, onnx_forward
from foldpitch.model import PitchNet
from foldpitch.predict import ONNX_BACKEND_TOLERANCE, predict
from foldpitch.synth import harmonic_tone

predict_module = importlib.import_module("foldpitch.predict")  # the attribute is the function

ort = pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

RATE = 16000


def random_net(seed: int = 0, **config) -> PitchNet:
    """A small untrained network; 4 blocks give the shipped model's dilations."""
    torch.manual_seed(seed)
    options = {"channels": 16, "n_blocks": 4, "n_period_bins": 32, **config}
    return PitchNet(**options).eval()


def session(path) -> ort.InferenceSession:
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def run_both(net: PitchNet, sess, audio: torch.Tensor, from_audio: bool = True):
    """(onnxruntime's outputs, the network's) as lists of tensors."""
    with torch.no_grad():
        out = net(audio)
        feed = audio if from_audio else net.frontend(audio)
    name = "audio" if from_audio else "magnitude"
    ours = [torch.from_numpy(a) for a in sess.run(None, {name: feed.numpy()})]
    return ours, [out.logits, out.offsets, out.periodicity_logits]


def shipped_net() -> PitchNet:
    try:
        return predict_module._resolve_model(None, torch.device("cpu"))
    except FileNotFoundError:
        pytest.skip("no shipped checkpoint in this checkout")


@pytest.fixture(scope="module")
def net() -> PitchNet:
    return random_net()


@pytest.fixture(scope="module")
def exported(net, tmp_path_factory):
    """The random network exported from audio and from STFT magnitudes."""
    folder = tmp_path_factory.mktemp("onnx")
    return {
        True: session(export_onnx(folder / "audio.onnx", net)),
        False: session(export_onnx(folder / "frames.onnx", net, from_audio=False)),
    }


# --- the file against PyTorch ---------------------------------------------------------


@pytest.mark.parametrize("from_audio", [True, False], ids=["audio", "frames"])
@pytest.mark.parametrize(
    "batch, n_samples",
    [(1, 1), (2, 100), (1, 159), (3, 160), (2, 161), (1, 1023), (2, 16000), (1, 16001)],
)
def test_onnx_matches_torch(net, exported, from_audio, batch, n_samples):
    generator = torch.Generator().manual_seed(n_samples)
    audio = 0.3 * torch.randn(batch, n_samples, generator=generator)
    ours, reference = run_both(net, exported[from_audio], audio, from_audio)
    n_frames = (n_samples - 1) // net.hop_length + 1
    assert ours[0].shape == (batch, n_frames, net.n_period_bins)
    for got, expected in zip(ours, reference, strict=True):
        torch.testing.assert_close(got, expected, **ONNX_TOLERANCE)


def test_onnx_matches_torch_on_a_long_input(net, exported):
    # A minute in one call: the dynamic time axis and the STFT hold over 6000 frames.
    generator = torch.Generator().manual_seed(5)
    audio = 0.3 * torch.randn(1, 60 * RATE, generator=generator)
    audio[:, RATE:] += harmonic_tone(150.0, RATE, 59 * RATE).float()
    ours, reference = run_both(net, exported[True], audio)
    assert ours[2].shape == (1, 6000)
    for got, expected in zip(ours, reference, strict=True):
        torch.testing.assert_close(got, expected, **ONNX_TOLERANCE)


def test_shipped_network_matches_torch(tmp_path):
    net = shipped_net()
    sess = session(export_onnx(tmp_path / "shipped.onnx"))
    audio = torch.stack([harmonic_tone(f0, RATE, 3 * RATE).float() for f0 in (90.0, 440.0)])
    audio[1, RATE:] = 0.1 * torch.randn(2 * RATE, generator=torch.Generator().manual_seed(0))
    for length in (1, 3 * RATE):
        ours, reference = run_both(net, sess, audio[:, :length])
        for got, expected in zip(ours, reference, strict=True):
            torch.testing.assert_close(got, expected, **ONNX_TOLERANCE)


def test_odd_fft_and_even_kernel(tmp_path):
    # An odd n_fft takes the symmetric Hann window; kernel 4 with dilations 2, 4 pads
    # 3 * 2 and 3 * 4 samples: symmetric, so exportable.
    net = random_net(1, n_fft=1023, n_input_bins=200, kernel_size=4, n_blocks=3)
    net.blocks = net.blocks[1:]  # dilations 2 and 4 only
    sess = session(export_onnx(tmp_path / "odd.onnx", net))
    audio = 0.3 * torch.randn(2, 5000, generator=torch.Generator().manual_seed(3))
    ours, reference = run_both(net, sess, audio)
    for got, expected in zip(ours, reference, strict=True):
        torch.testing.assert_close(got, expected, **ONNX_TOLERANCE)


@pytest.mark.parametrize("from_audio", [True, False], ids=["audio", "frames"])
def test_zero_padded_stft_exports(tmp_path, from_audio):
    # A 64 ms window zero-padded to 2048 points: the file's STFT takes the padded window.
    net = random_net(2, n_fft=2048, win_length=1024, n_input_bins=512)
    sess = session(export_onnx(tmp_path / "padded.onnx", net, from_audio=from_audio))
    audio = 0.3 * torch.randn(2, 5000, generator=torch.Generator().manual_seed(4))
    ours, reference = run_both(net, sess, audio, from_audio)
    for got, expected in zip(ours, reference, strict=True):
        torch.testing.assert_close(got, expected, **ONNX_TOLERANCE)


def test_frequency_offsets_export_from_audio(tmp_path):
    # The derivative-window STFT is in the graph too; stem weights on the offsets large
    # enough that a wrong offset changes the outputs.
    net = random_net(5, n_fft_short=512, frequency_offsets=True)
    with torch.no_grad():
        net.stem[0].weight[:, 384:].normal_(0, 1)
    sess = session(export_onnx(tmp_path / "offsets.onnx", net))
    audio = 0.3 * torch.randn(2, 5000, generator=torch.Generator().manual_seed(6))
    audio[1] += harmonic_tone(101.3, RATE, 5000).float()
    ours, reference = run_both(net, sess, audio)
    for got, expected in zip(ours, reference, strict=True):
        torch.testing.assert_close(got, expected, **ONNX_TOLERANCE)
    assert sess.get_modelmeta().custom_metadata_map["frequency_offsets"] == "True"
    with pytest.raises(ValueError, match="frequency_offsets=True.*from_audio=True"):
        export_onnx(tmp_path / "frames.onnx", random_net(frequency_offsets=True), from_audio=False)


def test_metadata_decodes_like_the_network(net, tmp_path):
    """The README's recipe for an application: f0 from the outputs and the metadata
    alone equals the network's own decoding."""
    import onnx

    path = export_onnx(tmp_path / "net.onnx", net)
    meta = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert int(meta["sample_rate"]) == net.sample_rate
    assert int(meta["hop_length"]) == net.hop_length
    assert float(meta["voicing_threshold"]) == net.voicing_threshold
    audio = torch.stack([harmonic_tone(f0, RATE, RATE).float() for f0 in (100.0, 300.0)])
    logits, offsets, periodicity_logits = session(path).run(None, {"audio": audio.numpy()})
    low, high = float(meta["log2_period_min"]), float(meta["log2_period_max"])
    width = (high - low) / int(meta["n_period_bins"])
    best = logits.argmax(-1)
    offset = np.take_along_axis(offsets, best[..., None], -1)[..., 0]
    f0 = int(meta["sample_rate"]) / 2.0 ** (low + (best + offset.astype(np.float64)) * width)
    with torch.no_grad():
        out = net(audio)
        expected = net.frequency(net.log2_period(out))
    np.testing.assert_allclose(f0, expected.numpy(), rtol=1e-4)
    np.testing.assert_allclose(
        1 / (1 + np.exp(-periodicity_logits)),
        torch.sigmoid(out.periodicity_logits).numpy(),
        atol=1e-5,
    )


# --- predict(..., backend="onnx") ----------------------------------------------------


def assert_backends_agree(torch_result, onnx_result, threshold: float):
    tol = ONNX_BACKEND_TOLERANCE
    torch.testing.assert_close(onnx_result.f0, torch_result.f0, rtol=tol["f0_rtol"], atol=0)
    torch.testing.assert_close(
        onnx_result.periodicity, torch_result.periodicity, rtol=0, atol=tol["periodicity_atol"]
    )
    clear = (torch_result.periodicity - threshold).abs() > tol["periodicity_atol"]
    assert torch.equal(onnx_result.voiced[clear], torch_result.voiced[clear])
    assert torch.equal(onnx_result.times, torch_result.times)


@pytest.mark.parametrize("decoder", ["viterbi", "argmax"])
def test_predict_backends_agree(net, decoder):
    audio = torch.stack([harmonic_tone(f0, RATE, 2 * RATE).float() for f0 in (110.0, 330.0)])
    audio[1, RATE:] = 0.2 * torch.randn(RATE, generator=torch.Generator().manual_seed(4))
    options = {"decoder": decoder, "chunk_seconds": 0.7, "batch_size": 3}
    reference = predict(audio, RATE, net, device="cpu", **options)
    result = predict(audio, RATE, net, backend="onnx", **options)
    assert_backends_agree(reference, result, net.voicing_threshold)


def test_predict_onnx_on_known_tones_with_the_shipped_network():
    net = shipped_net()
    f0s = (82.0, 196.0, 440.0, 880.0)
    audio = torch.stack([0.5 * harmonic_tone(f0, 22050, 22050 * 3 // 2).float() for f0 in f0s])
    reference = predict(audio, 22050, device="cpu")
    result = predict(audio, 22050, backend="onnx")
    assert_backends_agree(reference, result, net.voicing_threshold)
    for row, f0 in enumerate(f0s):
        steady = result.f0[row, 10:-10]
        cents = 1200 * torch.log2(steady / f0).abs()
        assert float(cents.max()) < 20, (f0, float(cents.max()))
        assert bool(result.voiced[row, 10:-10].all())


def test_onnx_backend_follows_weight_changes(net):
    changed = random_net()
    audio = harmonic_tone(220.0, RATE, RATE).float()
    before = predict(audio, RATE, changed, backend="onnx", decoder="argmax")
    with torch.no_grad():
        changed.head.bias.add_(torch.linspace(-3, 3, changed.head.bias.numel()))
    after = predict(audio, RATE, changed, backend="onnx", decoder="argmax")
    reference = predict(audio, RATE, changed, device="cpu", decoder="argmax")
    assert not torch.allclose(before.periodicity, after.periodicity, atol=1e-3)
    assert_backends_agree(reference, after, changed.voicing_threshold)


def test_onnx_forward_uses_torch_threads(net):
    audio = torch.randn(1, 4000, generator=torch.Generator().manual_seed(6))
    threads = torch.get_num_threads()
    try:
        torch.set_num_threads(1)
        forward = onnx_forward(net)
        one = forward(audio)
    finally:
        torch.set_num_threads(threads)
    assert forward.session.get_session_options().intra_op_num_threads == 1
    if threads != 1:
        other = onnx_forward(net).session.get_session_options()
        assert other.intra_op_num_threads == threads
    with torch.no_grad():
        torch.testing.assert_close(one.logits, net(audio).logits, **ONNX_TOLERANCE)


# --- the command ----------------------------------------------------------------------


def write_checkpoint(net: PitchNet, path) -> None:
    """A checkpoint in the format :func:`foldpitch.model.load_pitchnet` reads."""
    state = {
        "state_dict": {f"model.{k}": v for k, v in net.state_dict().items()},
        "foldpitch": {"model_config": net.config(), "voicing_threshold": 0.6},
    }
    torch.save(state, path)


@pytest.mark.parametrize("frames", [False, True], ids=["audio", "frames"])
def test_cli_export_onnx(net, tmp_path, capsys, frames):
    checkpoint = tmp_path / "net.ckpt"
    write_checkpoint(net, checkpoint)
    out = tmp_path / "out" / "net.onnx"
    out.parent.mkdir()
    argv = ["export-onnx", str(out), "--checkpoint", str(checkpoint)]
    assert main(argv + (["--frames"] if frames else [])) == 0
    assert str(out) in capsys.readouterr().out
    assert [p.name for p in out.parent.iterdir()] == ["net.onnx"]  # no partial file left
    sess = session(out)
    assert sess.get_inputs()[0].name == ("magnitude" if frames else "audio")
    meta = sess.get_modelmeta().custom_metadata_map
    assert meta["voicing_threshold"] == "0.6"
    audio = 0.3 * torch.randn(2, 3000, generator=torch.Generator().manual_seed(7))
    ours, reference = run_both(net, sess, audio, from_audio=not frames)
    for got, expected in zip(ours, reference, strict=True):
        torch.testing.assert_close(got, expected, **ONNX_TOLERANCE)


def test_cli_export_onnx_errors(tmp_path, capsys):
    assert main(["export-onnx", str(tmp_path / "a.onnx"), "--checkpoint", "absent.ckpt"]) == 1
    assert "absent.ckpt" in capsys.readouterr().err
    not_a_checkpoint = tmp_path / "junk.ckpt"
    not_a_checkpoint.write_bytes(b"junk")
    assert main(["export-onnx", str(tmp_path / "a.onnx"), "--checkpoint", str(not_a_checkpoint)])
    assert "not a foldpitch checkpoint" in capsys.readouterr().err
    assert not (tmp_path / "a.onnx").exists()


# --- errors ---------------------------------------------------------------------------


def test_export_argument_errors(net, tmp_path):
    with pytest.raises(TypeError, match="from_audio"):
        export_onnx(tmp_path / "a.onnx", net, from_audio="yes")
    with pytest.raises(ValueError, match="opset must be an integer >= 17, got 16"):
        export_onnx(tmp_path / "a.onnx", net, opset=16)
    with pytest.raises(TypeError, match="opset"):
        export_onnx(tmp_path / "a.onnx", net, opset=17.0)
    with pytest.raises(TypeError, match="checkpoint must be"):
        export_onnx(tmp_path / "a.onnx", 3)
    with pytest.raises(FileNotFoundError, match="absent.ckpt"):
        export_onnx(tmp_path / "a.onnx", tmp_path / "absent.ckpt")
    # kernel 4, dilation 1: 'same' pads 1 sample left and 2 right, which ONNX cannot say.
    with pytest.raises(ValueError, match="kernel_size=4 and dilation=1"):
        export_onnx(tmp_path / "a.onnx", random_net(kernel_size=4, n_blocks=1))
    assert not list(tmp_path.iterdir())


def test_predict_backend_errors(net):
    audio = torch.zeros(1600)
    with pytest.raises(ValueError, match="backend must be one of"):
        predict(audio, RATE, net, backend="tensorrt")
    with pytest.raises(ValueError, match="device"):
        predict(audio, RATE, net, backend="onnx", device="cuda")


@pytest.mark.parametrize("missing", ["onnxruntime", "onnx"])
def test_missing_packages_name_the_extra(net, monkeypatch, missing):
    monkeypatch.setitem(sys.modules, missing, None)  # import raises ImportError
    with pytest.raises(ModuleNotFoundError, match=rf"{missing}.*foldpitch\[onnx\]"):
        predict(torch.zeros(1600), RATE, random_net(2), backend="onnx")


def test_a_network_with_a_short_stft_exports_from_audio_only(tmp_path):
    net = random_net(3, n_fft_short=256)
    sess = session(export_onnx(tmp_path / "short.onnx", net))
    generator = torch.Generator().manual_seed(3)
    audio = 0.3 * torch.randn(2, 4001, generator=generator)
    audio[1] += harmonic_tone(190.0, RATE, 4001).float()
    ours, reference = run_both(net, sess, audio)
    for got, expected in zip(ours, reference, strict=True):
        torch.testing.assert_close(got, expected, **ONNX_TOLERANCE)
    metadata = sess.get_modelmeta().custom_metadata_map
    assert (metadata["n_fft_short"], metadata["n_short_bins"]) == ("256", "64")
    with pytest.raises(ValueError, match="from_audio=True"):
        export_onnx(tmp_path / "frames.onnx", net, from_audio=False)
