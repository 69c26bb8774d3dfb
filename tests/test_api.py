"""The public Python API: every advertised name imports."""

import k49


def test_every_public_name_resolves():
    for name in k49.__all__:
        assert getattr(k49, name) is not None, name


def test_unknown_name_is_an_attribute_error():
    import pytest

    with pytest.raises(AttributeError):
        k49.no_such_thing  # noqa: B018
