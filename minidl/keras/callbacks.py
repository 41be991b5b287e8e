"""Keras' callbacks (``md.keras.callbacks``): the one callback hierarchy of minidl, shared with ``md.train`` (it
lives in ``minidl.train.callbacks``). ``self.model`` is the model being trained; a callback stops training by
setting ``self.model.stop_training = True``, as in Keras.

Example:
    >>> model.fit(x, y, validation_split=0.1, callbacks=[
    ...     md.keras.callbacks.EarlyStopping(patience=3, restore_best_weights=True),
    ...     md.keras.callbacks.ReduceLROnPlateau(factor=0.5, patience=2),
    ...     md.keras.callbacks.ModelCheckpoint("best.keras", save_best_only=True)])
"""
from ..train.callbacks import (CSVLogger, Callback, EarlyStopping, History, LambdaCallback, LearningRateScheduler,
                               ModelCheckpoint, ReduceLROnPlateau, TerminateOnNaN)

__all__ = ["Callback", "History", "LambdaCallback", "EarlyStopping", "ModelCheckpoint", "ReduceLROnPlateau",
           "LearningRateScheduler", "TerminateOnNaN", "CSVLogger"]
