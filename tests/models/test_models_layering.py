"""``cldyn_mm/models`` stands below ``cldyn_mm/engine``: no module of it imports from the engine
(the closed-loop update is the optimizer wrapper's, ``engine/optimizers``), and none writes a
private attribute of the optimizer wrapper it is handed."""
import ast
from pathlib import Path

MODELS = Path(__file__).resolve().parents[2] / 'cldyn_mm' / 'models'


def _module_name(path: Path) -> str:
    parts = path.relative_to(MODELS.parents[1]).with_suffix('').parts
    return '.'.join(parts[:-1] if parts[-1] == '__init__' else parts)


def _imported_modules(path: Path):
    """(line, absolute module name) of every import in ``path``, relative ones resolved."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = _module_name(path)
    if path.name != '__init__.py':
        package = package.rpartition('.')[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split('.')
                base = base[:len(base) - (node.level - 1)]
                module = '.'.join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ''
            yield node.lineno, module
            for alias in node.names:  # `from cldyn_mm import engine`
                yield node.lineno, f'{module}.{alias.name}'


def test_models_import_nothing_from_the_engine():
    files = sorted(MODELS.rglob('*.py'))
    assert len(files) > 10
    offending = [
        f'{path.relative_to(MODELS.parents[1])}:{line}: {module}' for path in files
        for line, module in _imported_modules(path)
        if module == 'cldyn_mm.engine' or module.startswith('cldyn_mm.engine.')
    ]
    assert not offending, 'cldyn_mm/models imports from cldyn_mm.engine:\n' + '\n'.join(offending)


def test_the_resolver_sees_relative_imports():
    """The check above would catch ``from ...engine import x`` in cldyn_mm/models/a/b.py."""
    path = MODELS / 'closed_loop' / 'closed_loop_cldyn.py'
    names = {m for _, m in _imported_modules(path)}
    assert 'cldyn_mm.models.losses.reward_penalty_loss' in names


def test_models_write_no_private_attribute_of_the_optim_wrapper():
    offending = []
    for path in sorted(MODELS.rglob('*.py')):
        for node in ast.walk(ast.parse(path.read_text())):
            targets = []
            if isinstance(node, ast.Assign):
                targets = node.targets
            elif isinstance(node, (ast.AugAssign, ast.AnnAssign)):
                targets = [node.target]
            for t in targets:
                if (isinstance(t, ast.Attribute) and t.attr.startswith('_')
                        and 'optim' in ast.unparse(t.value)):
                    offending.append(f'{path.name}:{node.lineno}: {ast.unparse(t)}')
            if isinstance(node, ast.Call) and ast.unparse(node.func) == 'setattr' and \
                    node.args and 'optim' in ast.unparse(node.args[0]):
                offending.append(f'{path.name}:{node.lineno}: {ast.unparse(node)}')
    assert not offending, offending
