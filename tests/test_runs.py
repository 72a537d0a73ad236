"""Run folders (`keras_cpc.runs`): the one lock, and folders that cannot be used."""

import logging
import threading
import time

import pytest

from keras_cpc.runs import RunFolderError, exclusive_run, locked

pytest.importorskip("fcntl")


def test_a_lock_held_elsewhere_is_an_error_naming_the_folder_or_is_waited_for(tmp_path, caplog):
    path = tmp_path / "folder" / "lock"
    with locked(path, wait=False):
        with pytest.raises(RunFolderError, match=f"{tmp_path / 'folder'}: another process"):
            with locked(path, wait=False):
                pass
    held, released = threading.Event(), []

    def hold():
        with locked(path, wait=False):
            held.set()
            time.sleep(0.3)
            released.append(time.monotonic())

    holder = threading.Thread(target=hold)
    holder.start()
    held.wait()
    with caplog.at_level(logging.INFO, "keras_cpc.runs"), locked(path, wait=True):
        acquired = time.monotonic()
    holder.join()
    assert released and acquired >= released[0]
    assert f"waiting for another process, which holds {path}" in caplog.text


def test_a_folder_that_cannot_be_created_is_an_error_naming_it(tmp_path):
    (tmp_path / "file").write_text("a regular file, not a folder")  # unwritable even for root
    with pytest.raises(RunFolderError, match=f"{tmp_path / 'file' / 'run'}: not a writable folder"):
        with exclusive_run(tmp_path / "file" / "run"):
            pass
