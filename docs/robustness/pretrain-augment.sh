#!/usr/bin/env bash
# The shipped CPC pretrained on: the LibriSpeech sample plus the RAVDESS actors outside fold 0's test set (unlabeled),
# with the context hearing each crop through a random channel (--augment) and predicting the clean crop:
#   docs/robustness/pretrain-augment.sh EPOCHS CORES [OUT [PRETRAIN OPTION ...]]   (CORES: taskset's list, e.g. 0 or 0,1)
# writes OUT (default runs/pretrain-augment)/{ravdess-fold0-train.txt,cpc/}; rerunning resumes. Options after OUT
# override the ones below (e.g. --augment 0.5 --seed 1).
set -euo pipefail
epochs=$1; cores=$2; export out=${3:-runs/pretrain-augment}
shift $(( $# < 3 ? $# : 3 ))
mkdir -p $out
.venv/bin/python - <<'PY'
import os
from keras_cpc.datasets.protocol import VALIDATION_FRACTION, read_corpus, split
utterances = read_corpus("ravdess", "../shared/data/ravdess")
test = {u.speaker for u in split("ravdess", utterances, 0, 4, VALIDATION_FRACTION, 0)[2]}
lines = [f"{u.path}\t{u.speaker}" for u in utterances if u.speaker not in test]
open(f"{os.environ['out']}/ravdess-fold0-train.txt", "w").write("\n".join(lines) + "\n")
PY
export TF_NUM_INTRAOP_THREADS=$(( $(echo $cores | tr ',' '\n' | wc -l) )) TF_NUM_INTEROP_THREADS=1
taskset -c $cores .venv/bin/python -m training.pretrain --data ../shared/data/librispeech $out/ravdess-fold0-train.txt \
  --init assets/models/cpc_librispeech.keras --augment --epochs $epochs --steps-per-epoch 30 --batch-size 8 \
  --crop-seconds 10 --seed 0 --out $out/cpc --verbose 2 "$@"
# The last epoch's weights (cpc.keras is the best epoch by the clean validation loss, which an augmented run
# does not aim at unless the validation is augmented too, as it is since session 22's last commits), without the
# optimizer: OUT/cpc/last.keras
.venv/bin/python - <<'PY'
import os
import keras
from keras_cpc.models import CPC
out = f"{os.environ['out']}/cpc"
trained = keras.saving.load_model(f"{out}/cpc.keras", compile=False)
trained.compile(optimizer=keras.optimizers.Adam())
trained.optimizer.build(trained.trainable_variables)
trained.load_weights(f"{out}/checkpoints/latest.weights.h5")
last = CPC.from_config(trained.get_config())
last.build((None, None))
last.set_weights(trained.get_weights())
last.save(f"{out}/last.keras")
PY
