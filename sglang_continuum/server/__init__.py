"""What runs inside SGLang and starts it: the plugin SGLang loads in every process
(``plugin``), the launcher (``launch``), its settings parser (``settings``), the
patches to SGLang (``patching``) and the embedded tiny model (``tiny_model``)."""
