"""EMULATED Qt: small stand-ins for the Qt, CTK and qMRML widgets the module's .ui and code use.

The Slicer desktop application (and so PythonQt) cannot run here. These classes emulate, in plain
Python, exactly the properties, methods and signals that ``Resources/UI/UnsupervisedSegment.ui``,
``UnsupervisedSegment.py`` and Slicer's own ``parameterNodeWrapper``/``ScriptedLoadableModule``/
``slicer.util`` code touch, with Qt's behaviour where it matters (spin boxes clamp to their range,
signals fire only on change and not while blocked, PythonQt calls a slot with as many signal
arguments as it takes). They are strict: setting a property a class does not declare raises, and
:class:`QUiLoader` refuses widget classes and properties it does not emulate, so the .ui and the
module cannot use Qt API that these tests would silently ignore.

Everything MRML behind the widgets (scene, nodes, segmentations) is real (slicer-core).
"""

from __future__ import annotations

import inspect
import types
import xml.etree.ElementTree as ElementTree
from pathlib import Path


class Signal:
    """A Qt signal, as PythonQt exposes it: ``widget.valueChanged.connect(slot)``."""

    def __init__(self, signature: str):
        self.signature = signature  # "valueChanged(int)"

    def __set_name__(self, owner, name):
        self.name = name

    def __get__(self, instance, owner):
        if instance is None:
            return self
        return instance._signals.setdefault(self.name, BoundSignal(instance))


class BoundSignal:
    def __init__(self, sender: QObject):
        self.sender, self.slots = sender, []

    def connect(self, slot) -> None:
        self.slots.append(slot)

    def disconnect(self, slot) -> None:
        self.slots.remove(slot)

    def emit(self, *args) -> None:
        if self.sender._signalsBlocked:
            return
        for slot in list(self.slots):
            slot(*args[: _accepted_arguments(slot, len(args))])


def _accepted_arguments(slot, available: int) -> int:
    """How many signal arguments PythonQt passes: as many as the slot takes."""
    try:
        parameters = inspect.signature(slot).parameters.values()
    except (TypeError, ValueError):
        return available
    if any(p.kind == p.VAR_POSITIONAL for p in parameters):
        return available
    return min(available, sum(p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD) for p in parameters))


class QObject:
    """Named object with dynamic properties, children and signals."""

    PROPERTIES = frozenset({"name", "objectName"})

    def __init__(self, parent=None):
        object.__setattr__(self, "_signals", {})
        self._signalsBlocked = False
        self._dynamic = {}
        self._children = []
        self._parent = None
        self.name = ""
        if parent is not None:
            self.setParent(parent)

    def __setattr__(self, name: str, value) -> None:
        if not name.startswith("_") and name not in self._declared():
            raise AttributeError(f"emulated {type(self).__name__} has no property {name!r} (not emulated)")
        object.__setattr__(self, name, value)

    @classmethod
    def _declared(cls) -> frozenset:
        return frozenset().union(*(getattr(base, "PROPERTIES", frozenset()) for base in cls.__mro__))

    @property
    def objectName(self) -> str:
        return self.name

    def setObjectName(self, name: str) -> None:
        self.name = name

    def setParent(self, parent) -> None:
        if self._parent is not None:
            self._parent._children.remove(self)
        self._parent = parent
        if parent is not None:
            parent._children.append(self)

    def parent(self):
        return self._parent

    def children(self) -> list:
        return list(self._children)

    def findChildren(self, cls) -> list:
        found = []
        for child in self._children:
            if isinstance(child, cls):
                found.append(child)
            found += child.findChildren(cls)
        return found

    def property(self, name: str):
        if name in self._dynamic:
            return self._dynamic[name]
        return getattr(self, name, None) if name in self._declared() else None

    def setProperty(self, name: str, value) -> None:
        if name in self._declared():
            setattr(self, name, value)
        else:
            self._dynamic[name] = value

    def blockSignals(self, block: bool) -> bool:
        was, self._signalsBlocked = self._signalsBlocked, bool(block)
        return was

    def connect(self, signature: str, slot) -> None:
        """PythonQt's ``widget.connect("signal(args)", slot)``."""
        self._signal(signature).connect(slot)

    def disconnect(self, signature: str, slot) -> None:
        self._signal(signature).disconnect(slot)

    def _signal(self, signature: str) -> BoundSignal:
        name = signature.split("(", 1)[0]
        declared = getattr(type(self), name, None)
        if not isinstance(declared, Signal) or not _overload_of(signature, declared.signature):
            raise AttributeError(f"emulated {type(self).__name__} has no signal {signature!r}")
        return getattr(self, name)

    def deleteLater(self) -> None:
        pass


def _overload_of(requested: str, declared: str) -> bool:
    """``clicked()`` names ``clicked(bool)`` (Qt's overloads with default arguments)."""
    def arguments(signature):
        return [a for a in signature.split("(", 1)[1].rstrip(")").split(",") if a]
    return requested.split("(", 1)[0] == declared.split("(", 1)[0] and \
        arguments(declared)[: len(arguments(requested))] == arguments(requested)


class QWidget(QObject):
    PROPERTIES = frozenset({"enabled", "visible", "toolTip", "geometry", "minimumSize", "windowTitle"})

    def __init__(self, parent=None):
        super().__init__(parent)
        self.enabled, self.visible, self.toolTip, self.windowTitle = True, True, "", ""
        self._layout = None

    def isWidgetType(self) -> bool:
        return True

    def setToolTip(self, text: str) -> None:
        self.toolTip = text

    def setLayout(self, layout) -> None:
        self._layout = layout
        layout._owner = self

    def layout(self):
        return self._layout

    def show(self) -> None:
        self.visible = True


class QLayout:
    """Layouts only place widgets: adding one makes it a child of the layout's widget."""

    def __init__(self, parent=None):
        self._owner = None
        if parent is not None:
            parent.setLayout(self)

    def addWidget(self, widget, *args) -> None:
        widget.setParent(self._owner)

    addRow = addWidget

    def setSpacing(self, spacing: int) -> None:
        pass

    setMargin = setSpacing

    def setContentsMargins(self, *margins) -> None:
        pass


QVBoxLayout = QHBoxLayout = QFormLayout = QLayout


class QFrame(QWidget):
    pass


def _text_and_parent(text_or_parent, parent):
    """Qt's ``QLabel(text, parent)`` / ``QLabel(parent)`` overloads."""
    return (text_or_parent, parent) if isinstance(text_or_parent, str) else ("", text_or_parent)


class QLabel(QWidget):
    PROPERTIES = frozenset({"text", "wordWrap"})

    def __init__(self, text_or_parent=None, parent=None):
        text, parent = _text_and_parent(text_or_parent, parent)
        super().__init__(parent)
        self.text, self.wordWrap = text, False


class QAbstractButton(QWidget):
    PROPERTIES = frozenset({"text", "checked", "checkable"})
    clicked = Signal("clicked(bool)")
    toggled = Signal("toggled(bool)")

    def __init__(self, text_or_parent=None, parent=None):
        text, parent = _text_and_parent(text_or_parent, parent)
        super().__init__(parent)
        object.__setattr__(self, "_checked", False)
        self.text, self.checkable = text, False

    @property
    def checked(self) -> bool:
        return self._checked

    @checked.setter
    def checked(self, value: bool) -> None:
        if bool(value) != self._checked:
            object.__setattr__(self, "_checked", bool(value))
            self._stateChanged()  # Qt: checkStateSet() (QCheckBox: stateChanged) before toggled
            self.toggled.emit(self._checked)

    def _stateChanged(self) -> None:
        pass

    def click(self) -> None:
        """A user's click: nothing when disabled, as in Qt."""
        if not self.enabled:
            return
        if self.checkable:
            self.checked = not self.checked
        self.clicked.emit(self.checked)


class QPushButton(QAbstractButton):
    pass


class QCheckBox(QAbstractButton):
    stateChanged = Signal("stateChanged(int)")

    def __init__(self, text_or_parent=None, parent=None):
        super().__init__(text_or_parent, parent)
        self.checkable = True

    def _stateChanged(self) -> None:
        self.stateChanged.emit(Qt.Checked if self.checked else Qt.Unchecked)


class _SpinBox(QWidget):
    """Value clamped to [minimum, maximum] as Qt does; valueChanged on change only."""

    PROPERTIES = frozenset({"value", "minimum", "maximum", "singleStep"})

    def __init__(self, parent=None, minimum=0, maximum=99):
        super().__init__(parent)
        object.__setattr__(self, "_value", minimum)
        self.minimum, self.maximum, self.singleStep = minimum, maximum, 1

    def __setattr__(self, name: str, value) -> None:
        super().__setattr__(name, value)
        if name in ("minimum", "maximum") and hasattr(self, "maximum"):
            self.value = self._value  # re-clamp

    @property
    def value(self):
        return self._value

    @value.setter
    def value(self, value) -> None:
        value = self._normalise(min(max(value, self.minimum), self.maximum))
        if value != self._value:
            object.__setattr__(self, "_value", value)
            self.valueChanged.emit(value)

    def setRange(self, minimum, maximum) -> None:
        self.minimum, self.maximum = minimum, maximum

    def setMinimum(self, minimum) -> None:
        self.minimum = minimum

    def setMaximum(self, maximum) -> None:
        self.maximum = maximum


class QSpinBox(_SpinBox):
    valueChanged = Signal("valueChanged(int)")

    def _normalise(self, value) -> int:
        return int(value)


class QDoubleSpinBox(_SpinBox):
    PROPERTIES = frozenset({"decimals"})
    valueChanged = Signal("valueChanged(double)")

    def __init__(self, parent=None):
        object.__setattr__(self, "decimals", 2)
        super().__init__(parent, 0.0, 99.99)

    def _normalise(self, value) -> float:
        return round(float(value), self.decimals)


class QComboBox(QWidget):
    PROPERTIES = frozenset({"currentIndex"})
    currentIndexChanged = Signal("currentIndexChanged(int)")

    def __init__(self, parent=None):
        super().__init__(parent)
        object.__setattr__(self, "_items", [])
        object.__setattr__(self, "_currentIndex", -1)

    @property
    def currentIndex(self) -> int:
        return self._currentIndex

    @currentIndex.setter
    def currentIndex(self, index: int) -> None:
        index = index if -1 <= index < len(self._items) else -1
        if index != self._currentIndex:
            object.__setattr__(self, "_currentIndex", index)
            self.currentIndexChanged.emit(index)

    @property
    def currentText(self) -> str:
        return self._items[self._currentIndex] if self._currentIndex >= 0 else ""

    def count(self) -> int:
        return len(self._items)

    def itemText(self, index: int) -> str:
        return self._items[index]

    def addItem(self, text: str) -> None:
        self._items.append(text)
        if self._currentIndex == -1:
            self.currentIndex = 0

    def clear(self) -> None:
        self._items.clear()
        self.currentIndex = -1


class ctkCollapsibleButton(QAbstractButton):
    PROPERTIES = frozenset({"collapsed"})

    def __init__(self, parent=None):
        super().__init__(parent)
        self.collapsed = False


class qMRMLWidget(QWidget):
    mrmlSceneChanged = Signal("mrmlSceneChanged(vtkMRMLScene*)")

    def __init__(self, parent=None):
        super().__init__(parent)
        self._scene = None

    def setMRMLScene(self, scene) -> None:
        if scene is not self._scene:
            self._scene = scene
            self._sceneChanged()
            self.mrmlSceneChanged.emit(scene)

    def mrmlScene(self):
        return self._scene

    def _sceneChanged(self) -> None:
        pass

    def _nodesOfTypes(self, nodeTypes, hidden=()) -> list:
        """The scene's nodes of ``nodeTypes`` (not of ``hidden``) in scene order, as qMRMLSceneModel lists them."""
        if self._scene is None:
            return []
        nodes = (self._scene.GetNthNode(index) for index in range(self._scene.GetNumberOfNodes()))
        return [node for node in nodes
                if any(node.IsA(t) for t in nodeTypes) and not any(node.IsA(t) for t in hidden) and not node.GetHideFromEditors()]


class qMRMLNodeComboBox(qMRMLWidget):
    """Current node selector; the current node becomes None when it leaves the scene (as Slicer's)."""

    PROPERTIES = frozenset({"nodeTypes", "hideChildNodeTypes", "noneEnabled", "addEnabled", "removeEnabled",
                            "renameEnabled", "noneDisplay"})
    currentNodeChanged = Signal("currentNodeChanged(vtkMRMLNode*)")

    def __init__(self, parent=None):
        super().__init__(parent)
        self.nodeTypes, self.hideChildNodeTypes = [], []
        self.noneEnabled = self.addEnabled = self.removeEnabled = self.renameEnabled = False
        self.noneDisplay = "None"
        self._current = None
        self._observations = []

    def _sceneChanged(self) -> None:
        for scene, tag in self._observations:
            scene.RemoveObserver(tag)
        self._observations = []
        if self._scene is not None:
            for event in (self._scene.NodeRemovedEvent, self._scene.EndCloseEvent):
                self._observations.append((self._scene, self._scene.AddObserver(event, self._onNodesRemoved)))
        self._onNodesRemoved()

    def _onNodesRemoved(self, *args) -> None:
        if self._current is not None and self._current not in self.nodes():
            self.setCurrentNode(None)

    def nodes(self) -> list:
        return self._nodesOfTypes(self.nodeTypes, self.hideChildNodeTypes)

    def nodeCount(self) -> int:
        return len(self.nodes())

    def nodeFromIndex(self, index: int):
        return self.nodes()[index]

    def currentNode(self):
        return self._current

    def currentNodeID(self):
        return self._current.GetID() if self._current is not None else None

    def setCurrentNode(self, node) -> None:
        if node is not None and node not in self.nodes():
            raise ValueError(f"emulated {type(self).__name__}: {node.GetID()} is not selectable here")
        if node is not self._current:
            self._current = node
            self.currentNodeChanged.emit(node)


class qMRMLCheckableNodeComboBox(qMRMLNodeComboBox):
    """Nodes with check boxes; ``checkedNodes()`` in scene order; removed nodes simply disappear."""

    checkedNodesChanged = Signal("checkedNodesChanged()")

    def __init__(self, parent=None):
        super().__init__(parent)
        self._checked = []

    def checkedNodes(self) -> list:
        return [node for node in self.nodes() if any(node is checked for checked in self._checked)]

    def checkState(self, node):
        return Qt.Checked if node in self.checkedNodes() else Qt.Unchecked

    def setCheckState(self, node, state) -> None:
        if node not in self.nodes():
            raise ValueError(f"emulated qMRMLCheckableNodeComboBox: {node.GetID()} is not listed")
        was = self.checkState(node)
        self._checked = [n for n in self._checked if n is not node] + ([node] if state == Qt.Checked else [])
        if was != state:
            self.checkedNodesChanged.emit()


class qMRMLSegmentSelectorWidget(qMRMLWidget):
    PROPERTIES = frozenset({"noneEnabled"})
    currentNodeChanged = Signal("currentNodeChanged(vtkMRMLNode*)")
    currentSegmentChanged = Signal("currentSegmentChanged(QString)")

    def __init__(self, parent=None):
        super().__init__(parent)
        self.noneEnabled = False
        self._node, self._segmentID = None, ""

    def currentNode(self):
        return self._node

    def currentSegmentID(self) -> str:
        return self._segmentID

    def setCurrentNode(self, node) -> None:
        if node is not self._node:
            self._node = node
            self.currentNodeChanged.emit(node)
            segmentation = node.GetSegmentation() if node is not None else None
            first = segmentation.GetNthSegmentID(0) if segmentation and segmentation.GetNumberOfSegments() else ""
            self.setCurrentSegmentID(first)

    def setCurrentSegmentID(self, segmentID: str) -> None:
        segmentation = self._node.GetSegmentation() if self._node is not None else None
        segmentID = segmentID if segmentation is not None and segmentation.GetSegment(segmentID or "") else ""
        if segmentID != self._segmentID:
            self._segmentID = segmentID
            self.currentSegmentChanged.emit(segmentID)


class qSlicerModulePanel(qMRMLWidget):
    """What Slicer gives a scripted module widget as ``parent``: a layout and ``isEntered``."""

    PROPERTIES = frozenset({"isEntered"})

    def __init__(self, parent=None):
        super().__init__(parent)
        self.isEntered = False
        self.setLayout(QLayout())


class qMRMLTableView(qMRMLWidget):
    def __init__(self, parent=None):
        super().__init__(parent)
        self._table = None

    def setMRMLTableNode(self, table) -> None:
        self._table = table

    def mrmlTableNode(self):
        return self._table


class QProgressDialog(QWidget):
    PROPERTIES = frozenset({"minimumDuration", "maximum", "value", "labelText"})

    def close(self) -> None:
        self.visible = False


class ctkMessageBox(QWidget):
    """Answers with ``ctkMessageBox.answer`` and records what it was asked (emulated user)."""

    PROPERTIES = frozenset({"text", "detailedText", "icon", "standardButtons", "dontShowAgainSettingsKey"})
    answer = None
    shown: list = []

    def __init__(self, parent=None):
        super().__init__(parent)
        self.text = self.detailedText = ""

    def exec_(self):
        ctkMessageBox.shown.append((self.windowTitle, self.text, self.detailedText))
        return ctkMessageBox.answer


class QMessageBox:
    Ok, Cancel, Yes, No, Retry, Close = 0x400, 0x400000, 0x4000, 0x10000, 0x80000, 0x200000
    NoIcon, Information, Warning, Critical, Question = range(5)


class Qt:
    Unchecked, PartiallyChecked, Checked = 0, 1, 2
    WaitCursor = 3
    ShiftModifier = 0x02000000


class QCursor:
    def __init__(self, shape=0):
        self._shape = shape

    def shape(self):
        return self._shape


class QApplication:
    """The application's override-cursor stack (what ``slicer.app`` and Slicer's util change)."""

    cursors: list = []

    @staticmethod
    def overrideCursor():
        return QCursor(QApplication.cursors[-1]) if QApplication.cursors else None

    @staticmethod
    def setOverrideCursor(cursor) -> None:
        QApplication.cursors.append(cursor.shape() if isinstance(cursor, QCursor) else cursor)

    @staticmethod
    def restoreOverrideCursor() -> None:
        if QApplication.cursors:
            QApplication.cursors.pop()


class QSettings:
    """Empty settings (a fresh profile)."""

    def contains(self, key: str) -> bool:
        return False

    def value(self, key: str, default=None):
        return default


class QIcon:
    def __init__(self, path: str = ""):
        self.path = path


class QFile:
    ReadOnly = 1

    def __init__(self, path: str):
        self.path = Path(path)

    def exists(self) -> bool:
        return self.path.is_file()

    def open(self, mode) -> bool:
        return self.exists()


class QThread:
    MAIN = object()

    @staticmethod
    def currentThread():
        return QThread.MAIN


class QUiLoader:
    """Builds the stand-in widgets from a Qt Designer .ui file (widgets, properties, connections)."""

    def load(self, qfile: QFile):
        root = ElementTree.parse(qfile.path).getroot()
        widgets = {}
        top = self._widget(root.find("widget"), None, widgets)
        for connection in root.iter("connection"):
            sender, receiver = widgets[connection.findtext("sender")], widgets[connection.findtext("receiver")]
            slot = getattr(receiver, connection.findtext("slot").split("(", 1)[0])
            sender.connect(connection.findtext("signal"), slot)
        return top

    def _widget(self, element, parent, widgets):
        cls = WIDGET_CLASSES.get(element.get("class"))
        if cls is None:
            raise NotImplementedError(f"widget class {element.get('class')} is not emulated (Testing/qt_standins.py)")
        widget = cls(parent)
        widget.name = element.get("name")
        widgets[widget.name] = widget
        for prop in element.findall("property"):
            value = _property_value(prop)
            if prop.get("stdset") == "0":
                widget.setProperty(prop.get("name"), value)
            else:
                setattr(widget, prop.get("name"), value)
        for child in element.iter("widget"):
            if child is not element and _owner(element, child) is element:
                self._widget(child, widget, widgets)
        return widget


def _owner(root, target):
    """The nearest <widget> ancestor of ``target`` under ``root`` (layouts do not own widgets)."""
    def search(element, owner):
        for child in element:
            if child is target:
                return owner
            found = search(child, child if child.tag == "widget" else owner)
            if found is not None:
                return found
        return None
    return search(root, root)


def _property_value(prop):
    value = prop[0]
    if value.tag == "string":
        return value.text or ""
    if value.tag == "bool":
        return value.text == "true"
    if value.tag == "number":
        return int(value.text)
    if value.tag == "double":
        return float(value.text)
    if value.tag == "stringlist":
        return [item.text for item in value]
    return value.tag  # rect, size, enum: layout only, not emulated further


WIDGET_CLASSES = {cls.__name__: cls for cls in (
    QWidget, QLabel, QPushButton, QCheckBox, QSpinBox, QDoubleSpinBox, QComboBox, ctkCollapsibleButton,
    qMRMLWidget, qMRMLNodeComboBox, qMRMLCheckableNodeComboBox, qMRMLSegmentSelectorWidget, qMRMLTableView,
)}


class _NotEmulated(type):
    """A Qt class no code path here instantiates: exists (for isinstance/type checks), refuses to be built."""

    def __call__(cls, *args, **kwargs):
        raise NotImplementedError(f"{cls.__module__}.{cls.__name__} is not emulated (Testing/qt_standins.py)")


class StandInModule(types.ModuleType):
    """``qt``/``ctk`` module: the emulated classes; any other name is a class that cannot be built."""

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        cls = _NotEmulated(name, (), {"__module__": self.__name__})
        setattr(self, name, cls)
        return cls


def qt_module() -> StandInModule:
    module = StandInModule("qt")
    for cls in (QObject, QWidget, QFrame, QLabel, QPushButton, QCheckBox, QSpinBox, QDoubleSpinBox, QComboBox, QProgressDialog,
                QMessageBox, Qt, QCursor, QApplication, QSettings, QIcon, QFile, QThread, QUiLoader, QLayout):
        setattr(module, cls.__name__, cls)
    module.QVBoxLayout = module.QHBoxLayout = module.QFormLayout = QLayout
    return module


def ctk_module() -> StandInModule:
    module = StandInModule("ctk")
    module.ctkCollapsibleButton, module.ctkMessageBox = ctkCollapsibleButton, ctkMessageBox
    return module


#: Widget classes Slicer puts on the ``slicer`` namespace.
SLICER_WIDGETS = {cls.__name__: cls for cls in (
    qMRMLWidget, qMRMLNodeComboBox, qMRMLCheckableNodeComboBox, qMRMLSegmentSelectorWidget, qMRMLTableView)}


def slicer_widget_getattr(name: str):
    """``slicer.__getattr__`` for the other qMRML/qSlicer widget classes: exist, cannot be built."""
    if not name.startswith(("qMRML", "qSlicer")):
        raise AttributeError(f"module 'slicer' has no attribute {name!r}")
    return _NotEmulated(name, (), {"__module__": "slicer"})
