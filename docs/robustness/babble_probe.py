"""Where babble costs the shipped model: under the words or between them (a one-off probe, session 41).

Scores a model under the protocol's babble (`keras_cpc.channels`, the same noise, seeds and SNR scaling) and under
that babble kept only where the clean clip is active (its 25 ms frames within 30 dB of its loudest, the rule of
`active_power`) or only where it is not, every speaker calibrated with their clips under the condition; and, without
a model, the share of the active and of the other frames that the speech-frame gate keeps under some conditions, at
some floors (`keras_cpc.speech_frames`, each speaker's clips at -25 dBFS by their median active power, as the level
normalisation calibrated per speaker brings them; every third held-out clip); and how far the babble moves the CPC
contexts of the frames that hold speech (relative L2 distance to the clean clip's, at its active frames, every sixth
held-out clip at -25 dBFS as above, without the front end's suppression):

    PYTHONPATH=. python docs/robustness/babble_probe.py score MODEL_DIR BABBLE_FOLDER OUT.json [RAVDESS]
    PYTHONPATH=. python docs/robustness/babble_probe.py gate BABBLE_FOLDER OUT.json [RAVDESS]
    PYTHONPATH=. python docs/robustness/babble_probe.py contexts CPC.keras BABBLE_FOLDER OUT.json [RAVDESS]

and the model under the protocol's babble with its speech-frame gate replaced by the decisions the gate makes on the
clean clip: the words and the hangover after each, as on the clean clip, reach the head; the other frames between
the words do not, as with a gate that knew the speaker's voice (`clean-oracle` checks the replay: it must score as
clean):

    PYTHONPATH=. python docs/robustness/babble_probe.py oracle MODEL_DIR BABBLE_FOLDER OUT.json [RAVDESS]

and that oracle under babble kept off every sample that a frame the gate keeps on the clean clip hears (`-unheard`:
the babble reaches the front end and the CPC's memory, not the audio of the frames that reach the head; with
suppression, whose SNR gate hears the babble and whose filters spread it over a few ms, those frames are not quite
the clean clip's), beside the oracle under the protocol's babble (session 42; run it on a copy of the model folder
without suppression too, made by `unsuppressed`, where they are):

    PYTHONPATH=. python docs/robustness/babble_probe.py unheard MODEL_DIR BABBLE_FOLDER OUT.json [RAVDESS [clean]]

(`clean`: each speaker calibrated with their clean clips, so that babble reaches neither their level nor their
feature statistics),
    PYTHONPATH=. python docs/robustness/babble_probe.py unsuppressed MODEL_DIR COPY_DIR [PRIOR_SECONDS]

and, without a model, as `gate` does, the share of the active and of the other frames that the speech-frame gate
keeps with each of `HANGOVERS`, and when a kept frame must also be within `VOICED_WITHIN` frames after a frame whose
voicing (`keras_cpc.layers.Pitch`) is at least a threshold, whether voicing tells the speaker's frames from the other
voices' (session 42):

    PYTHONPATH=. python docs/robustness/babble_probe.py hangover BABBLE_FOLDER OUT.json [RAVDESS]
    PYTHONPATH=. python docs/robustness/babble_probe.py voicing BABBLE_FOLDER OUT.json [RAVDESS]

and how many of the shipped recipe's augmented speaker channels (runs 0-2, 3 copies) hold babble, by default and with
`--augment-babble 0.5` (`channel_shift`'s channels, as finetuning draws them, each applied once to a made-up 0.5 s
noise clip: a channel's babble is decided before anything that depends on the audio):

    PYTHONPATH=. python docs/robustness/babble_probe.py channels OUT.json [RAVDESS]
"""

from __future__ import annotations

import hashlib
import json
import math
import shutil
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

import numpy as np

from keras_cpc import channels
from keras_cpc.audio import load_audio
from keras_cpc.datasets import EmotionUtterance
from keras_cpc.datasets.protocol import read_corpus, split
from keras_cpc.features import channel_shift, cpc_extractor
from keras_cpc.layers import Pitch, receptive_field
from keras_cpc.layers.encoder import PAPER_KERNELS, PAPER_STRIDES
from keras_cpc.speech_frames import SpeechFrameSettings, speech_mask
from training.config import FinetuneConfig
from training.finetune import augmentation_babble, fold_sets, run_seed
from app.engine.streaming import StreamingRecognizer
from keras_cpc.datasets.emotion import calibration_indices
from training.robustness import StreamPredictor, recordings, score_conditions

SNRS = (20, 10)
VOICINGS = (0.0, 0.3, 0.4, 0.5, 0.6, 0.7)  # 0: the gate as it is
VOICED_WITHIN = 10
HANGOVERS = (10, 3)
FIELD, HOP = receptive_field(PAPER_KERNELS, PAPER_STRIDES), 160  # the CPC frames' samples
FLOORS = (-60.0, -50.0, -45.0, -40.0)
GATE_CONDITIONS = ("clean", "babble-20db", "babble-10db", "white-20db", "pink-10db", "rt60-0.8")


def active_mask(audio: np.ndarray) -> np.ndarray:
    """1 on the samples of the 25 ms frames within 30 dB of the loudest frame, 0 elsewhere."""
    frames = len(audio) // channels.FRAME
    powers = np.mean(audio[:frames * channels.FRAME].reshape(frames, -1).astype(np.float64) ** 2, axis=1)
    active = powers >= powers.max() * 10 ** (-channels.ACTIVE_RANGE_DB / 10)
    return np.pad(np.repeat(active, channels.FRAME), (0, len(audio) - frames * channels.FRAME)).astype(np.float32)


def gated_babble(snr: float, where: str) -> Callable[[np.ndarray, np.random.Generator, Sequence[np.ndarray]],
                                                      np.ndarray]:
    """A condition: the protocol's babble at `snr`, scaled as there, kept where the clip is active ("speech"), where
    it is not ("pauses"), or where no frame that the gate keeps on the clean clip hears it ("unheard": `UNHEARD`)."""
    def condition(audio: np.ndarray, rng: np.random.Generator, babble: Sequence[np.ndarray]) -> np.ndarray:
        noise = channels._noise("babble", len(audio), rng, babble)
        scale = np.sqrt(channels.active_power(audio) / (np.mean(noise**2) * 10 ** (snr / 10)))
        if where not in ("speech", "pauses", "unheard"):
            raise ValueError(f"babble kept where? {where!r}: speech, pauses or unheard")
        mask = UNHEARD[digest(audio)] if where == "unheard" else active_mask(audio)
        return (audio + scale * noise * (1 - mask if where == "pauses" else mask)).astype(np.float32)
    return condition


def register_gated_babble() -> list[str]:
    """Adds the gated babble conditions to `keras_cpc.channels`' and returns the babble conditions, gated or not."""
    for snr in SNRS:
        for where in ("speech", "pauses"):
            channels._CONDITIONS[f"babble-{snr}db-{where}"] = gated_babble(snr, where)
    return [f"babble-{snr}db{where}" for snr in SNRS for where in ("", "-speech", "-pauses")]


def held_out(ravdess: str) -> list[EmotionUtterance]:
    """Fold 0's held-out utterances, as the protocol splits them."""
    return split("ravdess", read_corpus("ravdess", ravdess), 0, 4, 0.2, 0)[2]


def protocol_babble(folder: str) -> list[np.ndarray]:
    """The babble conditions' sources, as `training.robustness` reads them."""
    return [load_audio(path) for path in channels.protocol_babble_files(folder)]


def speaker_gains(test: Sequence[EmotionUtterance], clips: Sequence[np.ndarray]) -> dict[str, float]:
    """Each speaker's gain to -25 dBFS from the median of their clips' active power."""
    levels: dict[str, list[float]] = {}
    for utterance, clip in zip(test, clips):
        levels.setdefault(utterance.speaker, []).append(10 * np.log10(channels.active_power(clip)))
    return {speaker: 10 ** ((-25 - np.median(theirs)) / 20) for speaker, theirs in levels.items()}


def contexts(cpc: str, babble_folder: str, out: str, ravdess: str = "../shared/data/ravdess") -> None:
    """How far each condition moves the CPC contexts of the clean clips' active frames."""
    babble_conditions = register_gated_babble()
    test = held_out(ravdess)[::6]
    babble, clips = protocol_babble(babble_folder), [load_audio(u.path) for u in test]
    gains = speaker_gains(test, clips)
    _, extract, field, hop = cpc_extractor(cpc)
    conditions = ["white-20db", "white-10db", "rt60-0.8", *babble_conditions]
    distances: dict[str, list[float]] = {condition: [] for condition in conditions}
    for index, (utterance, clip) in enumerate(zip(test, clips)):
        clean = extract(clip * gains[utterance.speaker])
        active = active_mask(clip)[np.arange(len(clean)) * hop + field // 2] > 0
        for condition in conditions:
            heard = extract(channels.apply_condition(condition, clip, index, babble) * gains[utterance.speaker])
            distances[condition].append(float(np.linalg.norm(heard[active] - clean[active])
                                              / np.linalg.norm(clean[active])))
    report = {condition: float(np.mean(values)) for condition, values in distances.items()}
    with open(out, "w") as file:
        json.dump(report, file, indent=2)
    for condition, distance in report.items():
        print(f"{condition:22s} contexts of the active frames moved by {distance:.3f} of their norm")


def write_scores(out: str, report: dict, scores: dict, model: str) -> None:
    """Writes `report` with the model's CCC under each condition (`score_conditions`' scores) to `out`; prints them."""
    report["conditions"] = {condition: systems[model] for condition, systems in scores.items()}
    with open(out, "w") as file:
        json.dump(report, file, indent=2)
    for condition, score in report["conditions"].items():
        print(f"{condition:28s} " + " / ".join(f"{v:.3f}" for v in score.values()))


CLEAN_OF: dict[bytes, np.ndarray] = {}  # a shifted clip's digest -> the clean clip it was made from
UNHEARD: dict[bytes, np.ndarray] = {}  # a clean clip's digest -> 1 on the samples no frame kept on it hears


def digest(audio: np.ndarray) -> bytes:
    return hashlib.sha256(np.ascontiguousarray(audio, np.float32).tobytes()).digest()


def remembering(name: str) -> Callable[[np.ndarray, np.random.Generator, Sequence[np.ndarray]], np.ndarray]:
    """Condition `name`, remembering which clean clip each shifted clip comes from."""
    shift = channels._CONDITIONS[name]

    def condition(audio: np.ndarray, rng: np.random.Generator, babble: Sequence[np.ndarray]) -> np.ndarray:
        shifted = shift(audio, rng, babble)
        CLEAN_OF[digest(shifted)] = audio
        return shifted
    return condition


class OraclePredictor(StreamPredictor):
    """The engine, each speaker calibrated with their shifted clips, whose speech-frame gate replays the decisions it
    makes on the clean clip (streamed through a second engine calibrated with the clean clips)."""

    def __init__(self, model_dir: str, clean_calibration: bool = False):
        super().__init__(model_dir)
        self.clean_calibration = clean_calibration  # the speakers calibrated with their clean clips
        self.clean = StreamingRecognizer(model_dir, interval=math.inf)
        self.current: np.ndarray | None = None  # the clean clip of the stream being heard
        self.masks: dict[bytes, np.ndarray] = {}
        self.log: list[np.ndarray] = []
        record, gate = self.clean.speech.push, self.recognizer.speech
        self.clean.speech.push = lambda powers: self.log.append(decided := record(powers)) or decided
        reset, state = gate.reset, {"mask": None, "at": 0}

        def replay(powers: np.ndarray) -> np.ndarray:
            if state["mask"] is None:
                state["mask"] = self.clean_mask(self.current)
            decided = state["mask"][state["at"]:state["at"] + len(powers)]
            state["at"] += len(powers)
            return decided

        def replay_reset() -> None:
            if state["mask"] is not None and state["at"] != len(state["mask"]):
                raise RuntimeError(f"replayed {state['at']} of {len(state['mask'])} decisions: the streams differ")
            reset()
            state.update(mask=None, at=0)
        gate.push, gate.reset = replay, replay_reset

    def clean_mask(self, clip: np.ndarray) -> np.ndarray:
        """The gate's decisions on a clean clip, streamed alone."""
        key = digest(clip)
        if key not in self.masks:
            self.log = []
            self.clean.reset()  # a stream of its own from the speaker's calibration, as every clip is
            list(self.clean._recording_contexts([clip]))
            self.clean.reset()
            self.masks[key] = np.concatenate(self.log) if self.log else np.zeros(0, bool)
        return self.masks[key]

    def calibrate(self, clips: Sequence[np.ndarray], utterances: Sequence[EmotionUtterance]) -> None:
        clean = list(clips) if self.clean_calibration else [CLEAN_OF[digest(clip)] for clip in clips]
        chosen = calibration_indices(utterances, self.recognizer.feature_calibration)
        self.masks.clear()
        self.clean.calibrate_speaker(recordings(clean), recordings([clean[i] for i in chosen]), neutral=False)

        def tagged(indices: Sequence[int]):
            return lambda: (setattr(self, "current", clean[i]) or [clips[i]] for i in indices)
        self.recognizer.calibrate_speaker(tagged(range(len(clips))), tagged(chosen), neutral=False)

    def __call__(self, audio: np.ndarray) -> np.ndarray:
        self.current = CLEAN_OF[digest(audio)]
        return super().__call__(audio)


def remembered(conditions: Sequence[str]) -> list[str]:
    """Registers each condition again as `NAME-oracle`, remembering the clean clips (`remembering`); their names."""
    for name in conditions:
        channels._CONDITIONS[f"{name}-oracle"] = remembering(name)
    return [f"{name}-oracle" for name in conditions]


def oracle(model: str, babble_folder: str, out: str, ravdess: str = "../shared/data/ravdess") -> None:
    """CCC of a model whose gate replays its decisions on the clean clips, clean and under the protocol's babble."""
    test, babble = held_out(ravdess), protocol_babble(babble_folder)
    start = time.perf_counter()
    scores = score_conditions({model: OraclePredictor(model)}, test,
                              remembered(["clean", "babble-20db", "babble-10db"]), 0, babble)
    write_scores(out, {"model": model, "seconds": time.perf_counter() - start}, scores, model)


def unheard_samples(kept: np.ndarray, length: int, field: int, hop: int) -> np.ndarray:
    """1 on the samples of a recording that none of its `kept` frames hears, 0 elsewhere (float32)."""
    heard = np.zeros(length + field, bool)
    for frame in np.flatnonzero(kept):
        heard[frame * hop:frame * hop + field] = True
    return (~heard[:length]).astype(np.float32)


def unheard(model: str, babble_folder: str, out: str, ravdess: str = "../shared/data/ravdess",
            calibration: str = "matched") -> None:
    """CCC of the oracle under the protocol's babble and under babble that no frame the gate keeps hears, each
    speaker calibrated with their clips under the condition ("matched") or with their clean clips ("clean")."""
    for snr in SNRS:
        channels._CONDITIONS[f"babble-{snr}db-unheard"] = gated_babble(snr, "unheard")
    conditions = remembered(["clean", *(f"babble-{snr}db{where}" for where in ("", "-unheard") for snr in SNRS)])
    test, babble = held_out(ravdess), protocol_babble(babble_folder)
    start = time.perf_counter()
    predictor = OraclePredictor(model, clean_calibration=calibration == "clean")
    config = predictor.clean.config
    for speaker in dict.fromkeys(u.speaker for u in test):
        theirs = [u for u in test if u.speaker == speaker]
        clips = [load_audio(u.path) for u in theirs]
        chosen = calibration_indices(theirs, predictor.clean.feature_calibration)
        predictor.clean.calibrate_speaker(recordings(clips), recordings([clips[i] for i in chosen]), neutral=False)
        for clip in clips:
            UNHEARD[digest(clip)] = unheard_samples(predictor.clean_mask(clip), len(clip), config["receptive_field"],
                                                    config["frame_hop"])
    share = float(np.mean([mask.mean() for mask in UNHEARD.values()]))
    scores = score_conditions({model: predictor}, test, conditions, 0, babble, calibration)
    print(f"share of the clips' samples no kept frame hears: {share:.2f}")
    write_scores(out, {"model": model, "calibration": calibration, "unheard_share": share,
                       "seconds": time.perf_counter() - start}, scores, model)


def unsuppressed(model: str, copy: str, prior_seconds: str | None = None) -> None:
    """A copy of a model folder whose front end runs without noise suppression, and with `prior_seconds` its level
    normalisation's calibration weighs that many seconds of speech (a large number: a gain fixed by the calibration,
    which the babble in a clip's pauses does not move)."""
    shutil.copytree(model, copy)
    path = f"{copy}/model.json"
    with open(path) as file:
        config = json.load(file)
    del config["frontend"]["suppression"]
    if prior_seconds is not None:
        config["frontend"]["level"]["prior_seconds"] = float(prior_seconds)
    with open(path, "w") as file:
        json.dump(config, file, indent=2)


@contextmanager
def noises_drawn() -> Iterator[list[str]]:
    """The colours of the noises `keras_cpc.channels` draws while in the block, in order."""
    drawn: list[str] = []
    noise = channels._noise
    channels._noise = lambda color, *args, **kwargs: drawn.append(color) or noise(color, *args, **kwargs)
    try:
        yield drawn
    finally:
        channels._noise = noise


def babble_channels(out: str, ravdess: str = "../shared/data/ravdess") -> None:
    """How many of the recipe's augmented speaker channels hold babble, by default and with extra babble."""
    clip = 0.1 * np.random.default_rng(0).standard_normal(8000).astype(np.float32)
    report = {}
    with noises_drawn() as drawn:
        for run in range(3):
            config = FinetuneConfig(corpus="ravdess", data=ravdess, system="precpc", run=run, out="unused")
            train = fold_sets(config)[0]
            speakers = {u.speaker: u for u in train}  # a speaker's channel is the same for all their files
            for extra in (0.0, 0.5):
                babbled = 0
                for copy in range(3):
                    _, shift = channel_shift(run_seed(config), copy, augmentation_babble(config, train),
                                             extra_babble=extra)
                    for utterance in speakers.values():
                        drawn.clear()
                        shift(clip, utterance)
                        babbled += "babble" in drawn
                report[f"run {run}, extra babble {extra:g}"] = {"channels": 3 * len(speakers), "with babble": babbled}
                print(f"run {run}, extra babble {extra:g}: {babbled} of {3 * len(speakers)} speaker channels "
                      "hold babble")
    with open(out, "w") as file:
        json.dump(report, file, indent=2)


def heard_clips(babble_folder: str, ravdess: str) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
    """Every third held-out clip under each of `GATE_CONDITIONS`, at -25 dBFS by its speaker's gain (as the level
    normalisation calibrated per speaker brings it): the condition, the audio and which of its frames are active on
    the clean clip."""
    test = held_out(ravdess)[::3]
    babble, clips = protocol_babble(babble_folder), [load_audio(u.path) for u in test]
    gains = speaker_gains(test, clips)
    for condition in GATE_CONDITIONS:
        for index, (utterance, clip) in enumerate(zip(test, clips)):
            frames = (len(clip) - FIELD) // HOP + 1
            yield (condition, channels.apply_condition(condition, clip, index, babble) * gains[utterance.speaker],
                   active_mask(clip)[np.arange(frames) * HOP + FIELD // 2] > 0)


def kept_shares(out: str, kept: Callable[[np.ndarray, int], dict[str, np.ndarray]], babble_folder: str,
                ravdess: str) -> None:
    """The share of the active and of the other frames that each gate of `kept` (audio, frames -> {label: kept
    frames}) keeps under each condition, to `out` and printed."""
    shares: dict[str, dict[str, list[float]]] = {}
    for condition, heard, active in heard_clips(babble_folder, ravdess):
        for label, gated in kept(heard, len(active)).items():
            share = shares.setdefault(f"{label} {condition}", {"active": [], "other": []})
            share["active"].append(gated[active].mean())
            share["other"].append(gated[~active].mean())
    report = {key: {part: float(np.mean(values)) for part, values in share.items()} for key, share in shares.items()}
    with open(out, "w") as file:
        json.dump(report, file, indent=2)
    for key, share in report.items():
        print(f"{key:26s} active frames kept {share['active']:.2f}, others {share['other']:.2f}")


def gate(babble_folder: str, out: str, ravdess: str = "../shared/data/ravdess") -> None:
    """The share of the active and of the other frames the speech-frame gate keeps, per floor and condition."""
    def kept(heard: np.ndarray, frames: int) -> dict[str, np.ndarray]:
        return {f"{floor:g}": speech_mask(heard, frames, FIELD, HOP, SpeechFrameSettings(floor_dbfs=floor))
                for floor in FLOORS}
    kept_shares(out, kept, babble_folder, ravdess)


def hangover(babble_folder: str, out: str, ravdess: str = "../shared/data/ravdess") -> None:
    """The same per hangover, at the shipped floor."""
    def kept(heard: np.ndarray, frames: int) -> dict[str, np.ndarray]:
        return {f"hangover {after}": speech_mask(heard, frames, FIELD, HOP, SpeechFrameSettings(hangover_frames=after))
                for after in HANGOVERS}
    kept_shares(out, kept, babble_folder, ravdess)


def voicing(babble_folder: str, out: str, ravdess: str = "../shared/data/ravdess") -> None:
    """The same when the gate also asks for voicing, at the shipped floor."""
    pitch = Pitch()

    def kept(heard: np.ndarray, frames: int) -> dict[str, np.ndarray]:
        voiced = np.asarray(pitch(heard[None]))[0, :frames, 0]
        recent = np.array([voiced[max(0, i - VOICED_WITHIN):i + 1].max() for i in range(frames)])
        speech = speech_mask(heard, frames, FIELD, HOP)
        return {f"voicing {threshold:g}": speech & (recent >= threshold) for threshold in VOICINGS}
    kept_shares(out, kept, babble_folder, ravdess)


def score(model: str, babble_folder: str, out: str, ravdess: str = "../shared/data/ravdess") -> None:
    """CCC of a model under babble everywhere, under the words only and between them only."""
    conditions = register_gated_babble()
    test, babble = held_out(ravdess), protocol_babble(babble_folder)
    share = float(np.mean([active_mask(load_audio(u.path)).mean() for u in test]))
    start = time.perf_counter()
    scores = score_conditions({model: StreamPredictor(model)}, test, conditions, 0, babble)
    print(f"active share of the clips' samples: {share:.2f}")
    write_scores(out, {"model": model, "active_share": share, "seconds": time.perf_counter() - start}, scores, model)


if __name__ == "__main__":
    {"score": score, "gate": gate, "contexts": contexts, "channels": babble_channels,
     "oracle": oracle, "unheard": unheard, "unsuppressed": unsuppressed, "voicing": voicing,
     "hangover": hangover}[sys.argv[1]](*sys.argv[2:])
