"""Home Assistant MQTT discovery: the trap's counts, stats and gate appear without hand configuration.

Each entity is one retained config message on
`{discovery_prefix}/{component}/{node}/{object}/config`; Home Assistant reads the
values from the trap's own retained topics through a value template.
"""

from __future__ import annotations

import json
from typing import Any

from fishgate.telemetry.messages import DIRECTIONS, MODES, Topics
from fishgate.types import SPECIES, UNKNOWN

_STATS = (  # stats field, name, unit, device class
    ("fps", "Frames per second", "fps", None),
    ("decision_ms_p99", "Decision latency p99", "ms", "duration"),
    ("cpu_temperature_c", "CPU temperature", "°C", "temperature"),
    ("disk_free_mb", "Disk free", "MB", "data_size"),  # 10^6 bytes, as HA's MB
    ("outbox", "Messages waiting", None, None),
)


def discovery_messages(prefix: str, topics: Topics, version: str) -> list[tuple[str, str]]:
    node = f"fishgate_{_slug(topics.site)}"
    device = {
        "identifiers": [node],
        "name": f"fishgate {topics.site}",
        "manufacturer": "fishgate",
        "model": "AI fish trap",
        "sw_version": version,
    }
    common = {"availability_topic": topics.availability, "device": device}
    entities: list[tuple[str, str, dict[str, Any]]] = []
    for period, topic in (("today", topics.counts_today), ("season", topics.counts_season)):
        for species in (*SPECIES, UNKNOWN):  # unknown too, so the sensors add up to the total
            for direction in DIRECTIONS:
                entities.append(
                    (
                        "sensor",
                        f"{species}_{direction}_{period}",
                        {
                            "name": f"{species.replace('_', ' ').capitalize()} {direction} {period}",
                            "state_topic": topic,
                            "value_template": f"{{{{ value_json.counts.{species}.{direction} }}}}",
                            "unit_of_measurement": "fish",
                            # counts only grow, and today's start again from 0 at midnight
                            "state_class": "total_increasing",
                            "icon": "mdi:fish",
                        },
                    )
                )
    for field, name, unit, device_class in _STATS:
        config: dict[str, Any] = {
            "name": name,
            "state_topic": topics.stats,
            "value_template": f"{{{{ value_json.{field} }}}}",
            "state_class": "measurement",
            "entity_category": "diagnostic",
        }
        if unit:
            config["unit_of_measurement"] = unit
        if device_class:
            config["device_class"] = device_class
        entities.append(("sensor", field, config))
    entities.append(
        (
            "sensor",
            "gate_position",
            {
                "name": "Gate position",
                "state_topic": topics.gate_state,
                "value_template": "{{ value_json.position }}",
            },
        )
    )
    entities.append(
        (
            "select",
            "gate_mode",
            {
                "name": "Gate mode",
                "state_topic": topics.gate_state,
                "value_template": "{{ value_json.mode }}",
                "command_topic": topics.gate_mode_set,
                "options": list(MODES),
            },
        )
    )
    messages = []
    for component, object_id, config in entities:
        entity = f"{node}_{object_id}"
        payload = {**config, **common, "unique_id": entity, "default_entity_id": f"{component}.{entity}"}
        messages.append((f"{prefix}/{component}/{node}/{object_id}/config", json.dumps(payload)))
    return messages


def _slug(text: str) -> str:
    return "".join(c if c.isalnum() else "_" for c in text.lower())
