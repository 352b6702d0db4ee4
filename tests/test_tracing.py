"""tracing.Function: traced without AutoGraph, and with it for code that needs it."""
import tensorflow as tf

from t2tlike import tracing

SPEC = [tf.TensorSpec([None], tf.float32)]


def test_explicit_control_flow_is_traced_without_autograph():
    fn = tracing.Function(lambda x: tf.cond(tf.reduce_sum(x) > 0, lambda: x, lambda: -x),
                          input_signature=SPEC)
    assert fn(tf.constant([-1.0, -2.0])).numpy().tolist() == [1.0, 2.0]
    assert fn(tf.constant([3.0])).numpy().tolist() == [3.0]
    assert not fn.autograph and fn.experimental_get_tracing_count() == 1


def test_a_python_branch_on_a_tensor_is_traced_again_with_autograph():
    def python_branch(x):
        if tf.reduce_sum(x) > 0:      # needs AutoGraph in a graph
            return x
        return -x

    with_branch = tracing.Function(python_branch, input_signature=SPEC)
    assert with_branch(tf.constant([-1.0, -2.0])).numpy().tolist() == [1.0, 2.0]
    assert with_branch.autograph
    assert with_branch(tf.constant([3.0])).numpy().tolist() == [3.0]   # the same trace
    assert with_branch.experimental_get_tracing_count() == 1
    graph = tracing.Function(python_branch).get_concrete_function(*SPEC).graph
    assert any(op.type in ("If", "StatelessIf") for op in graph.get_operations())
