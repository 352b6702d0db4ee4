"""tf.function without AutoGraph, and with it for code that needs it.

AutoGraph rewrites the Python of a traced function, and of every function it calls (the
model's layers, the loss, the optimizer), so that `if` and `for` on tensors become graph
control flow; parsing and rewriting that source is a large part of tracing a train step
or a search. The toolkit's own steps and searches build their control flow explicitly
(tf.cond, tf.while_loop), so `function` traces them without it. Code that branches in
Python on a tensor (a user's model, say) raises OperatorNotAllowedInGraphError then, and
is traced again with AutoGraph, once: from then on that function always uses it.
"""
import tensorflow as tf


class Function:
    """`tf.function(python_function, **kwargs)`, traced without AutoGraph unless the
    function needs it (see the module docstring). `autograph` says which is in use."""

    def __init__(self, python_function, **kwargs):
        self.python_function = python_function
        self._kwargs = kwargs
        self._fn = tf.function(python_function, autograph=False, **kwargs)
        self.autograph = False

    def _run(self, call, *args, **kwargs):
        if self.autograph:
            return call(self._fn, *args, **kwargs)
        try:
            return call(self._fn, *args, **kwargs)
        except tf.errors.OperatorNotAllowedInGraphError:
            self._fn = tf.function(self.python_function, **self._kwargs)
            self.autograph = True
            return call(self._fn, *args, **kwargs)

    def __call__(self, *args, **kwargs):
        return self._run(lambda fn, *a, **k: fn(*a, **k), *args, **kwargs)

    def get_concrete_function(self, *args, **kwargs):
        return self._run(lambda fn, *a, **k: fn.get_concrete_function(*a, **k), *args, **kwargs)

    def experimental_get_tracing_count(self):
        return self._fn.experimental_get_tracing_count()


def function(python_function, **kwargs):
    """A `Function`: tf.function's keyword arguments (input_signature, jit_compile,
    reduce_retracing) as tf.function takes them, except autograph."""
    return Function(python_function, **kwargs)
