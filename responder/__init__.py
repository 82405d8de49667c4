"""The responder: knowledge base (files, store), Chinese-aware search index and decision policy.

Public entry points: :class:`responder.service.Responder` (``decide``, ``reload``),
:func:`responder.service.as_json`, :func:`responder.kb_files.load_kb_files`,
:func:`responder.kb_files.dump_kb`, :func:`responder.kb_store.import_kb`.
"""
