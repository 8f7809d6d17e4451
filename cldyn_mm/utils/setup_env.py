"""Registration of all cldyn_mm modules and the default scope."""
import datetime
import warnings

from mmengine import DefaultScope

from .checkpoint import allow_mmengine_checkpoints


def register_all_modules(init_default_scope: bool = True) -> None:
    """Import every cldyn_mm module that registers something, and set the default scope.

    Args:
        init_default_scope (bool): Set ``cldyn_mm`` as the current default scope, so that
            ``MODELS.build(dict(type='VFN'))`` on MMEngine's root registries finds cldyn_mm's
            modules. Defaults to True.
    """
    import cldyn_mm.datasets  # noqa: F401
    import cldyn_mm.engine  # noqa: F401
    import cldyn_mm.evaluation  # noqa: F401
    import cldyn_mm.models  # noqa: F401
    import cldyn_mm.visualization  # noqa: F401

    allow_mmengine_checkpoints()
    if not init_default_scope:
        return
    never_created = (
        DefaultScope.get_current_instance() is None
        or not DefaultScope.check_instance_created('cldyn_mm'))
    if never_created:
        DefaultScope.get_instance('cldyn_mm', scope_name='cldyn_mm')
        return
    current_scope = DefaultScope.get_current_instance()
    if current_scope.scope_name != 'cldyn_mm':
        warnings.warn('The current default scope '
                      f'"{current_scope.scope_name}" is not "cldyn_mm", '
                      '`register_all_modules` will force the current '
                      'default scope to be "cldyn_mm". If this is not '
                      'expected, please set `init_default_scope=False`.')
        new_instance_name = f'cldyn_mm-{datetime.datetime.now()}'
        DefaultScope.get_instance(new_instance_name, scope_name='cldyn_mm')
