"""softfer.io.capture: what C code writes to a file descriptor, caught, passed on or dropped."""

import os
import tempfile

import pytest

from softfer.io import capture
from softfer.io.capture import captured_fd, write_all


def _c_like(fd: int, text: bytes, then_raise: bool = False):
    def call():
        os.write(fd, text)  # past sys.stdout / sys.stderr, as C code writes
        if then_raise:
            raise KeyboardInterrupt
        return "result"

    return call


@pytest.mark.parametrize("fd", [1, 2])
def test_what_is_written_meanwhile_is_returned_and_the_descriptor_restored(fd, capfd):
    with tempfile.TemporaryFile() as sink:
        result, printed = captured_fd(fd, sink, _c_like(fd, b"libjpeg: a warning\n"), on_error="pass")
        assert (result, printed) == ("result", b"libjpeg: a warning\n")
        assert os.fstat(sink.fileno()).st_size == 0  # left empty for the next call
    os.write(fd, b"after\n")
    out, err = capfd.readouterr()
    assert (out if fd == 1 else err) == "after\n"


@pytest.mark.parametrize(("on_error", "passed_on"), [("pass", "handler: preempted\n"), ("drop", "")])
def test_a_raising_call_passes_on_or_drops_its_output(on_error, passed_on, capfd):
    with tempfile.TemporaryFile() as sink, pytest.raises(KeyboardInterrupt):
        captured_fd(2, sink, _c_like(2, b"handler: preempted\n", then_raise=True), on_error=on_error)
    assert capfd.readouterr().err == passed_on


def test_stale_output_goes_out_before_the_next_capture_and_is_not_its_own(capfd):
    with tempfile.TemporaryFile() as sink:
        os.write(sink.fileno(), b"left by an interrupted capture\n")
        _, printed = captured_fd(2, sink, _c_like(2, b"mine\n"), on_error="pass")
    assert printed == b"mine\n"
    assert capfd.readouterr().err == "left by an interrupted capture\n"


def test_write_all_writes_everything_when_the_system_writes_part(monkeypatch):
    # os.write may write fewer bytes than asked (a pipe, a signal): the rest must follow, in order
    real = os.write
    monkeypatch.setattr(capture.os, "write", lambda fd, data: real(fd, bytes(data[:3])))
    data = bytes(range(256)) * 40
    r, w = os.pipe()  # 10 KiB: within a pipe's buffer, no reader needed while writing
    write_all(w, data)
    os.close(w)
    with os.fdopen(r, "rb") as pipe:
        assert pipe.read() == data
