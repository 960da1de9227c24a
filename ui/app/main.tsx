/** Entry of the UI bundle (built by runtime/ops/ui/ui-assets.ts). */
import { render } from 'preact';
import 'uplot/dist/uPlot.min.css';
import './styles.css';
import { App } from './app.tsx';

render(<App />, document.getElementById('app')!);
