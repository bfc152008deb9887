"""`sklearn_digits`: a TFDS builder, prepared offline, of the 8x8 digits scikit-learn ships."""

import numpy as np
import tensorflow_datasets as tfds
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split


class SklearnDigits(tfds.core.GeneratorBasedBuilder):
    """scikit-learn's 1,797 handwritten digits (UCI), pixels 0..16 scaled to 0..255.

    The split is fixed: 360 test images stratified by class (`random_state=0`), 1,437 to train.
    """

    VERSION = tfds.core.Version("1.0.0")

    def _info(self):
        return self.dataset_info_from_configs(
            description=self.__doc__,
            features=tfds.features.FeaturesDict(
                {
                    "image": tfds.features.Image(shape=(8, 8, 1)),
                    "label": tfds.features.ClassLabel(num_classes=10),
                }
            ),
            supervised_keys=("image", "label"),
            homepage="https://archive.ics.uci.edu/dataset/80",
        )

    def _split_generators(self, dl_manager):
        digits = load_digits()  # scikit-learn's package data: nothing to download
        images = np.round(digits.images * (255 / 16)).astype(np.uint8)[..., None]
        splits = train_test_split(
            np.arange(len(digits.target)), test_size=360, stratify=digits.target, random_state=0
        )
        return {
            split: self._generate_examples(images, digits.target, indices)
            for split, indices in zip(("train", "test"), splits, strict=True)
        }

    def _generate_examples(self, images, labels, indices):
        for index in indices:
            yield int(index), {"image": images[index], "label": int(labels[index])}
