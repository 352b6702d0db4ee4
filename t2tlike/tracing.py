"""tf.function without AutoGraph, and with it for code that needs it.

AutoGraph rewrites the Python of a traced function, and of every function it calls (the
model's layers, the loss, the optimizer), so that `if` and `for` on tensors become graph
control flow; parsing and rewriting that source is a large part of tracing a train step
or a search. The toolkit's own steps and searches build their control flow explicitly
(tf.cond, tf.while_loop), so `Function` traces them without it. Code that branches in
Python on a tensor (a user's model, say) raises OperatorNotAllowedInGraphError then, and
is traced again with AutoGraph, once: from then on that function always uses it.
"""
import tensorflow as tf


class Function:
    """`tf.function(python_function, **kwargs)` (input_signature, jit_compile,
    reduce_retracing: any of tf.function's keyword arguments but autograph), traced
    without AutoGraph unless the function needs it (see the module docstring).
    `autograph` says which is in use."""

    def __init__(self, python_function, **kwargs):
        self.python_function = python_function
        self._kwargs = kwargs
        self._fn = tf.function(python_function, autograph=False, **kwargs)
        self.autograph = False

    def _traced(self, method, *args, **kwargs):
        if not self.autograph:
            try:
                return getattr(self._fn, method)(*args, **kwargs)
            except tf.errors.OperatorNotAllowedInGraphError:
                self._fn = tf.function(self.python_function, **self._kwargs)
                self.autograph = True
        return getattr(self._fn, method)(*args, **kwargs)

    def __call__(self, *args, **kwargs):
        return self._traced("__call__", *args, **kwargs)

    def get_concrete_function(self, *args, **kwargs):
        return self._traced("get_concrete_function", *args, **kwargs)

    def experimental_get_tracing_count(self):
        return self._fn.experimental_get_tracing_count()
